"""``memhub model status|export``: see and rebuild the cached ONNX export of the model.

Neither command imports torch, onnxruntime or sentence-transformers into this process: status
only reads files and package metadata, and the export runs in a child process like the
daemon's does.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import attrs

from memhub.config import ConfigError, EmbeddingBackend, Settings
from memhub.embedding.onnx_cache import (
    MODEL_FILE,
    CacheState,
    OnnxUnavailable,
    ensure_cached,
    inspect,
    legacy_cache_roots,
    locate_cache_dir,
)
from memhub.errors import StartupError

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
_RUNTIME: Final = ("onnxruntime", "tokenizers")
_EXPORTER: Final = ("torch", "sentence-transformers", "onnx")


@attrs.frozen(kw_only=True)
class ModelStatus:
    """Everything ``memhub model status`` reports; ``ready`` means the daemon will use ONNX."""

    backend: EmbeddingBackend
    model: str
    source: str
    cache: str | None
    state: CacheState
    runtime: dict[str, str | None]
    exporter: dict[str, str | None]

    @property
    def ready(self) -> bool:
        return self.state.status == "ready" and all(self.runtime.values())

    @property
    def export_pending(self) -> bool:
        """Whether the daemon's next start will first export the model (10-60 s).

        Only with the ONNX backend and its runtime installed: otherwise the daemon loads the
        model with sentence-transformers and exports nothing.
        """
        return (
            self.backend == "onnx"
            and self.cache is not None
            and self.state.status != "ready"
            and all(self.runtime.values())
        )


def model_status(settings: Settings) -> ModelStatus:
    """Inspect (and checksum) the cache for the configured model without loading anything."""
    from memhub.embedding.lookup import locate_model

    source, identity, local_only = locate_model(settings.model_name).as_tuple()
    if local_only:
        directory = None
        state = CacheState("missing", f"{settings.model_name!r} is not a local model folder", None)
    else:
        directory = locate_cache_dir(
            settings.model_cache_dir, Path(source), identity, legacy_cache_roots()
        )
        state = inspect(directory, Path(source))[0]
    return ModelStatus(
        backend=settings.embedding_backend,
        model=identity,
        source=source,
        cache=None if directory is None else str(directory),
        state=state,
        runtime={name: _installed(name) for name in _RUNTIME},
        exporter={name: _installed(name) for name in _EXPORTER},
    )


def export_note(settings: Settings) -> str | None:
    """A line saying that the model must still be exported, or None (also when it need not)."""
    if settings.embedder != "model":
        return None
    status = model_status(settings)
    if not status.export_pending:
        return None
    state = status.state
    why = f" (the export there is {state.status}: {state.reason})"
    if state.status == "missing":
        why = ""
    return (
        f"the embedding model {status.model} is not exported to ONNX yet{why}: the daemon's "
        f"first start exports it once, which takes 10-60 s (`memhub model export` does it "
        f"now), into {status.cache}"
    )


def export_if_pending(settings: Settings, say: Callable[[str], None]) -> None:
    """Export the model now if the daemon's first start would have to, telling ``say`` so.

    A failure is only reported: the daemon tries again, or falls back to sentence-transformers.
    """
    note = export_note(settings)
    if note is None:
        return
    say(f"preparing the embedding model once: {note}")
    if _export(settings, force=False) != EXIT_OK:
        say("the export failed (see above); the daemon will try again when it starts")


def status_lines(status: ModelStatus) -> list[tuple[str, str]]:
    """(label, value) rows for people; ``memhub doctor`` can print the same rows."""
    state = status.state
    rows = [
        ("backend", status.backend),
        ("model", status.model),
        ("source", status.source),
        ("cache", status.cache or "-"),
        ("state", f"{state.status} ({state.reason})"),
    ]
    manifest = state.manifest
    if manifest is not None:
        exporter = ", ".join(f"{k} {v}" for k, v in sorted(manifest.exporter.items()))
        rows += [
            (MODEL_FILE, f"{manifest.model_size / 1e6:.1f} MB, sha256 {manifest.model_sha256}"),
            ("exported", f"{manifest.exported_at} by {exporter}, opset {manifest.opset}"),
            ("max tokens", str(manifest.max_seq_length)),
            ("probe cosine", f"{manifest.probe_min_cosine:.7f} (min vs sentence-transformers)"),
        ]
    rows += [
        ("runtime", _versions(status.runtime) + "  (loads the export, no torch)"),
        ("exporter", _versions(status.exporter) + "  (needed once, to export)"),
    ]
    return rows


def main_model(action: str, *, db: str | None, force: bool, as_json: bool) -> int:
    try:
        settings = Settings.from_env(db=db)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if action == "export":
        return _export(settings, force=force)
    status = model_status(settings)
    if as_json:
        data = attrs.asdict(status, recurse=True)
        data["ready"] = status.ready
        print(json.dumps(data))
    else:
        rows = status_lines(status)
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"{label:<{width}}  {value}")
    return EXIT_OK if status.ready else EXIT_ERROR


def _export(settings: Settings, *, force: bool) -> int:
    from memhub.embedding.lookup import locate_model

    source, identity, local_only = locate_model(settings.model_name).as_tuple()
    if local_only:
        _err(f"{settings.model_name!r} is not a local model folder; nothing to export")
        return EXIT_ERROR
    missing = [name for name in _RUNTIME if _installed(name) is None]
    if missing:
        _err(f"{' and '.join(missing)} not installed: run `pip install 'memhub[model]'` first")
        return EXIT_ERROR
    roots = legacy_cache_roots()
    directory = locate_cache_dir(settings.model_cache_dir, Path(source), identity, roots)
    if not force and inspect(directory, Path(source))[1] is not None:
        print(f"{identity}: already exported to {directory} (--force rebuilds it)")
        return EXIT_OK
    try:
        cached = ensure_cached(
            Path(source),
            identity,
            settings.model_cache_dir,
            threads=settings.torch_threads,
            progress=lambda line: print(f"memhub: {line}", file=sys.stderr, flush=True),
            force=force,
            legacy_roots=roots,
        )
    except (StartupError, OnnxUnavailable) as exc:
        _err(str(exc))
        return EXIT_ERROR
    print(f"{identity}: exported to {cached.directory}")
    return EXIT_OK


def _installed(distribution: str) -> str | None:
    """The installed version, or None; metadata only, nothing is imported."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    module = distribution.replace("-", "_")
    try:
        # A distribution whose module cannot be found (a broken install) counts as missing.
        return version if importlib.util.find_spec(module) is not None else None
    except (ImportError, ValueError):
        return None


def _versions(found: dict[str, str | None]) -> str:
    return ", ".join(f"{name} {version or 'MISSING'}" for name, version in found.items())


def _err(message: str) -> None:
    print(f"memhub: {message}", file=sys.stderr, flush=True)
