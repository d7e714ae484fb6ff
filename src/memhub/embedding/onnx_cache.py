"""The on-disk cache of exported ONNX models: layout, manifest, verification, one-time export.

One directory per model folder under the cache root (``MEMHUB_MODEL_CACHE``, by default one
cache per user in the platform's cache directory, see :func:`memhub.config.model_cache_dir`)::

    all-MiniLM-L6-v2-<hash of the source folder's path>/
        model.onnx        the transformer (last hidden state), exported by torch once
        tokenizer.json    the model's fast tokenizer
        manifest.json     checksums of both, what was exported from, and by which versions
        export.lock       held while exporting, so concurrent daemons export only once

Exports made before there was one cache per user live in ``<MCP_MEMORY_BASE_DIR>/memhub-models``
(:func:`legacy_cache_roots`); a ready one there is used where it is (:func:`locate_cache_dir`), so
an existing user never waits for a second export. New exports always go to the per-user cache.

Every load re-hashes both files against the manifest, so a truncated, bit-rotted or tampered
file is never run. Files are never written in place: an export writes into a private temporary
directory, then renames the files into place and writes the manifest last (atomic renames). A
concurrent reader therefore sees the old set, the new set, or a checksum mismatch, which sends
it to wait on the lock and look again. onnxruntime then opens the verified path (not bytes held
in Python: that keeps a second 90 MB copy alive for the daemon's lifetime); a file swapped in
between can only be another complete, verified export of the same model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from memhub.config import base_dir
from memhub.discovery.files import DaemonLock
from memhub.errors import StartupError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

FORMAT: Final = 1
MODEL_FILE: Final = "model.onnx"
TOKENIZER_FILE: Final = "tokenizer.json"
MANIFEST_FILE: Final = "manifest.json"
LOCK_FILE: Final = "export.lock"
#: Exit codes of ``python -m memhub.embedding.onnx_export``.
EXIT_NO_TORCH: Final = 3
EXIT_UNSUPPORTED: Final = 4
#: Where, under a data directory, exports were kept before there was one cache per user.
LEGACY_CACHE_NAME: Final = "memhub-models"
_EXPORT_TIMEOUT_S: Final = 900.0
_LOCK_POLL_S: Final = 0.25

CacheStatus = Literal["ready", "missing", "stale", "damaged"]


class OnnxUnavailable(Exception):
    """The ONNX backend cannot serve this model here; sentence-transformers can take over."""


@attrs.frozen(kw_only=True)
class Manifest:
    """What ``manifest.json`` records about one export."""

    format: int
    identity: str
    source: str
    source_fingerprint: str
    dimension: int
    max_seq_length: int
    pad_id: int
    pad_token: str
    input_names: tuple[str, ...]
    opset: int
    model_sha256: str
    model_size: int
    tokenizer_sha256: str
    probe_min_cosine: float
    exported_at: str
    exporter: dict[str, str]


@attrs.frozen
class CacheState:
    """The verdict on one cache directory, with the reason when it is not ``ready``."""

    status: CacheStatus
    reason: str
    manifest: Manifest | None


@attrs.frozen
class CachedModel:
    """Verified contents of a ready cache directory."""

    directory: Path
    manifest: Manifest
    model_path: Path
    tokenizer_json: str


def cache_dir_for(root: Path, source: Path, identity: str) -> Path:
    """The cache directory of one model folder (two venvs' copies of a model do not collide)."""
    name = identity.rpartition(":")[2] or "model"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:64]
    where = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]
    return root / f"{slug}-{where}"


def legacy_cache_roots(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """Cache roots of older memhub versions that may hold a ready export (``<BASE_DIR>``'s).

    None when ``MEMHUB_MODEL_CACHE`` names the cache (an empty tuple): that one is the only one.
    """
    env = os.environ if environ is None else environ
    if env.get("MEMHUB_MODEL_CACHE"):
        return ()
    return (base_dir(env) / LEGACY_CACHE_NAME,)


def locate_cache_dir(
    root: Path, source: Path, identity: str, legacy_roots: Sequence[Path] = ()
) -> Path:
    """The cache directory to use for ``source``: the one under ``root``, unless only an older
    root holds a ready export of it (then that one, where it is: no second export)."""
    directory = cache_dir_for(root, source, identity)
    if (directory / MANIFEST_FILE).exists():
        return directory  # an export (even a stale one) lives here: this is where it is kept
    for old_root in legacy_roots:
        candidate = cache_dir_for(old_root, source, identity)
        if candidate != directory and inspect(candidate, source)[1] is not None:
            return candidate
    return directory


def source_fingerprint(source: Path) -> str:
    """Names, sizes and mtimes of the model folder's files: cheap, and changes on reinstall.

    Hashing the 90 MB of weights on every daemon start would cost ~0.15 s; a changed folder
    only has to trigger a re-export, which a changed mtime does.
    """
    entries: list[str] = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        stat = path.stat()
        entries.append(f"{rel.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def inspect(directory: Path, source: Path | None) -> tuple[CacheState, CachedModel | None]:
    """Read and verify a cache directory; ``source`` (if given) must match the fingerprint."""
    try:
        raw = (directory / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        return CacheState("missing", "no export yet", None), None
    except OSError as exc:
        return CacheState("damaged", f"manifest unreadable: {exc}", None), None
    manifest = _parse_manifest(raw)
    if manifest is None:
        return CacheState("damaged", "manifest is not a memhub manifest", None), None
    if manifest.format != FORMAT:
        return CacheState("stale", f"manifest format {manifest.format}", manifest), None
    if source is not None and manifest.source_fingerprint != source_fingerprint(source):
        return CacheState("stale", f"the model folder {source} changed", manifest), None
    try:
        model_sha256 = _sha256_file(directory / MODEL_FILE)
        tokenizer_bytes = (directory / TOKENIZER_FILE).read_bytes()
    except OSError as exc:
        return CacheState("damaged", f"{exc.filename}: {exc.strerror}", manifest), None
    if model_sha256 != manifest.model_sha256:
        return CacheState("damaged", f"{MODEL_FILE} checksum mismatch", manifest), None
    if hashlib.sha256(tokenizer_bytes).hexdigest() != manifest.tokenizer_sha256:
        return CacheState("damaged", f"{TOKENIZER_FILE} checksum mismatch", manifest), None
    try:
        tokenizer_json = tokenizer_bytes.decode()
    except UnicodeDecodeError:
        return CacheState("damaged", f"{TOKENIZER_FILE} is not UTF-8", manifest), None
    cached = CachedModel(directory, manifest, directory / MODEL_FILE, tokenizer_json)
    return CacheState("ready", "checksums verified", manifest), cached


def ensure_cached(
    source: Path,
    identity: str,
    root: Path,
    *,
    threads: int,
    progress: Callable[[str], None],
    force: bool = False,
    legacy_roots: Sequence[Path] = (),
) -> CachedModel:
    """Return the verified export of ``source``, exporting it first if it is missing or bad.

    A ready export under one of ``legacy_roots`` is used instead of making a new one under
    ``root`` (unless ``force``: a rebuild goes to ``root``).

    Raises:
        StartupError: an export is needed but torch is not installed.
        OnnxUnavailable: an export is needed and failed for another reason (unsupported model,
            exporter error): sentence-transformers may still serve the model.
    """
    if force:
        directory = cache_dir_for(root, source, identity)
    else:
        directory = locate_cache_dir(root, source, identity, legacy_roots)
        state, cached = inspect(directory, source)
        if cached is not None:
            return cached
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OnnxUnavailable(f"cannot create the model cache {directory}: {exc}") from exc
    try:
        with _exclusive(directory / LOCK_FILE):
            # Whoever held the lock before us may have just exported it.
            state, cached = inspect(directory, source)
            if cached is not None and not force:
                return cached
            for leftover in directory.glob(".export-*"):
                # An exporter killed mid-way (we hold the lock, so none is running now).
                shutil.rmtree(leftover, ignore_errors=True)
            why = "rebuilding on request" if force else f"{state.status}: {state.reason}"
            progress(
                f"exporting {identity} to ONNX once ({why}); this needs torch and takes "
                f"10-60 s, into {directory}"
            )
            started = time.monotonic()
            _export_into(directory, source, identity, threads, state)
            state, cached = inspect(directory, source)
    except OSError as exc:  # a read-only or full disk, a file held open on Windows
        raise OnnxUnavailable(f"cannot write the ONNX export into {directory}: {exc}") from exc
    if cached is None:
        raise OnnxUnavailable(f"the new export in {directory} does not verify: {state.reason}")
    progress(f"exported {identity} to ONNX in {time.monotonic() - started:.1f} s")
    return cached


def _export_into(
    directory: Path, source: Path, identity: str, threads: int, before: CacheState
) -> None:
    work = directory / f".export-{os.getpid()}-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        info = _run_exporter(source, work, threads, directory, before)
        try:
            manifest = _new_manifest(info, source, identity, work)
        except (KeyError, TypeError, ValueError) as exc:
            raise OnnxUnavailable(f"the ONNX exporter's result is unusable ({exc!r})") from exc
        for name in (MODEL_FILE, TOKENIZER_FILE):
            os.replace(work / name, directory / name)
        _write_atomic(directory / MANIFEST_FILE, _dump_manifest(manifest))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _new_manifest(info: dict[str, Any], source: Path, identity: str, work: Path) -> Manifest:
    return Manifest(
        format=FORMAT,
        identity=identity,
        source=str(source),
        source_fingerprint=source_fingerprint(source),
        dimension=_int(info, "dimension"),
        max_seq_length=_int(info, "max_seq_length"),
        pad_id=_int(info, "pad_id"),
        pad_token=str(info["pad_token"]),
        input_names=tuple(str(n) for n in info["input_names"]),
        opset=_int(info, "opset"),
        model_sha256=_sha256_file(work / MODEL_FILE),
        model_size=(work / MODEL_FILE).stat().st_size,
        tokenizer_sha256=hashlib.sha256((work / TOKENIZER_FILE).read_bytes()).hexdigest(),
        probe_min_cosine=float(info["probe_min_cosine"]),
        exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        exporter={str(k): str(v) for k, v in dict(info["versions"]).items()},
    )


def _run_exporter(
    source: Path, work: Path, threads: int, directory: Path, before: CacheState
) -> dict[str, Any]:
    # A child process: the daemon itself must never import torch (400 MB it would keep).
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    command = [sys.executable, "-m", "memhub.embedding.onnx_export", str(source), str(work)]
    try:
        done = subprocess.run(
            [*command, "--threads", str(max(1, threads))],
            env=env,
            capture_output=True,
            text=True,
            timeout=_EXPORT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OnnxUnavailable(f"the ONNX export took over {_EXPORT_TIMEOUT_S:.0f} s") from exc
    if done.returncode == 0:
        try:
            info: Any = json.loads(_last_line(done.stdout))
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise OnnxUnavailable("the ONNX exporter printed no result")
        return info
    message = _last_line(done.stderr) or f"exit code {done.returncode}"
    if done.returncode == EXIT_NO_TORCH:
        what = "there is no ONNX export" if before.status == "missing" else before.reason
        raise StartupError(
            f"the ONNX model cache {directory} cannot be used ({what}) and cannot be rebuilt: "
            f"{message}; install them (`pip install torch==2.13.0 'memhub[model]'`) and run "
            "`memhub model export` once"
        )
    raise OnnxUnavailable(f"the ONNX export failed: {message}")


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[DaemonLock]:
    """Hold the export lock, waiting for another process's export to finish first."""
    lock = DaemonLock(path)
    deadline = time.monotonic() + _EXPORT_TIMEOUT_S + 60
    while not lock.acquire():
        if time.monotonic() > deadline:
            raise OnnxUnavailable(f"another process holds {path} for too long")
        time.sleep(_LOCK_POLL_S)
    try:
        yield lock
    finally:
        lock.release()


def _sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _dump_manifest(manifest: Manifest) -> bytes:
    data = attrs.asdict(manifest)
    data["input_names"] = list(manifest.input_names)
    return json.dumps(data, indent=1, sort_keys=True).encode()


_FIELDS: Final = frozenset(field.name for field in attrs.fields(Manifest))


def _parse_manifest(raw: bytes) -> Manifest | None:
    try:
        data: Any = json.loads(raw)
        if not isinstance(data, dict) or set(data) != set(_FIELDS):
            return None
        names = data["input_names"]
        versions = data["exporter"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        if not isinstance(versions, dict):
            return None
        return Manifest(
            format=_int(data, "format"),
            identity=_str(data, "identity"),
            source=_str(data, "source"),
            source_fingerprint=_str(data, "source_fingerprint"),
            dimension=_int(data, "dimension"),
            max_seq_length=_int(data, "max_seq_length"),
            pad_id=_int(data, "pad_id"),
            pad_token=_str(data, "pad_token"),
            input_names=tuple(names),
            opset=_int(data, "opset"),
            model_sha256=_str(data, "model_sha256"),
            model_size=_int(data, "model_size"),
            tokenizer_sha256=_str(data, "tokenizer_sha256"),
            probe_min_cosine=float(data["probe_min_cosine"]),
            exported_at=_str(data, "exported_at"),
            exporter={str(k): str(v) for k, v in versions.items()},
        )
    except (ValueError, TypeError, KeyError):
        return None


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if type(value) is not int:
        raise TypeError(f"{key} is not an integer")
    return value


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
