"""Which backend runs, in real processes: no torch in an ONNX daemon, and honest fallbacks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ..daemon.helpers import running_daemon
from .helpers import child_env, run_memhub, run_python

LOAD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from memhub.config import Settings
from memhub.embedding import create_embedder
s = Settings.from_env(db="unused.db")
e = create_embedder(
    "model", s.model_name, 1, backend=s.embedding_backend, cache_dir=s.model_cache_dir
)
v = e.encode(["a memory about onnx", ""])
print(json.dumps({
    "type": type(e).__name__,
    "name": e.name,
    "shape": list(v.shape),
    "torch": "torch" in sys.modules,
    "sentence_transformers": "sentence_transformers" in sys.modules,
}))
"""


def _result(done) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_onnx_backend_never_imports_torch(cache_copy: Path) -> None:
    done = run_python(LOAD, child_env(MEMHUB_MODEL_CACHE=str(cache_copy)))
    assert _result(done) == {
        "type": "OnnxEmbedder",
        "name": "sentence-transformers:all-MiniLM-L6-v2",
        "shape": [2, 384],
        "torch": False,
        "sentence_transformers": False,
    }
    assert "exporting" not in done.stderr


@pytest.mark.slow
def test_onnx_backend_runs_where_torch_cannot_be_imported(cache_copy: Path, blocker: Path) -> None:
    env = child_env(blocker=blocker, block="torch", MEMHUB_MODEL_CACHE=str(cache_copy))
    assert run_python("import torch", env).returncode == 1  # the blocker works
    assert _result(run_python(LOAD, env))["type"] == "OnnxEmbedder"


@pytest.mark.slow
def test_sentence_transformers_backend_is_selectable(cache_copy: Path) -> None:
    env = child_env(
        MEMHUB_MODEL_CACHE=str(cache_copy), MEMHUB_EMBEDDING_BACKEND="sentence-transformers"
    )
    result = _result(run_python(LOAD, env))
    assert result["type"] == "SentenceTransformerEmbedder"
    assert result["name"] == "sentence-transformers:all-MiniLM-L6-v2"
    assert result["torch"] is True


@pytest.mark.slow
def test_without_onnxruntime_it_says_so_once_and_falls_back(
    cache_copy: Path, blocker: Path
) -> None:
    env = child_env(blocker=blocker, block="onnxruntime", MEMHUB_MODEL_CACHE=str(cache_copy))
    done = run_python(LOAD, env)
    result = _result(done)
    assert result["type"] == "SentenceTransformerEmbedder"
    assert result["name"] == "sentence-transformers:all-MiniLM-L6-v2"
    fallback = [line for line in done.stderr.splitlines() if "falling back" in line]
    assert len(fallback) == 1
    assert fallback[0].startswith("WARNING ONNX backend unavailable: onnxruntime or tokenizers")


def test_without_torch_and_without_an_export_the_daemon_says_why_in_one_line(
    tmp_path: Path, blocker: Path
) -> None:
    empty = tmp_path / "no-cache"
    env = child_env(
        blocker=blocker,
        block="torch",
        MEMHUB_MODEL_CACHE=str(empty),
        MEMHUB_EMBEDDER="model",
        MEMHUB_LOG_LEVEL="WARNING",
    )
    env.pop("MCP_MEMORY_SQLITE_PATH", None)
    done = run_memhub(["serve", "--db", str(tmp_path / "m.db")], env, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("memhub: the ONNX model cache ")
    assert "cannot be rebuilt: torch and sentence-transformers are needed to export" in last
    assert "No module named 'torch'" in last
    assert "memhub model export" in last


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_a_real_onnx_daemon_maps_no_torch_library_even_on_first_start(tmp_path: Path) -> None:
    # An empty cache: this daemon has to export first (in a child process) and then serve.
    db = tmp_path / "onnx.db"
    cache = tmp_path / "fresh-cache"
    extra = {"MEMHUB_EMBEDDER": "model", "MEMHUB_MODEL_CACHE": str(cache)}
    with running_daemon(db, extra) as (proc, info):
        assert info.pid == proc.pid
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "onnxruntime" in maps  # it is the ONNX backend that serves ...
        assert "libtorch" not in maps  # ... and torch was never loaded into the daemon
    (directory,) = cache.iterdir()
    assert (directory / "manifest.json").is_file()


@pytest.mark.slow
def test_a_failed_export_says_so_once_and_falls_back(tmp_path: Path, blocker: Path) -> None:
    # torch is there but the `onnx` package its exporter needs is not: the export fails.
    empty = tmp_path / "no-cache"
    env = child_env(blocker=blocker, block="onnx", MEMHUB_MODEL_CACHE=str(empty))
    done = run_python(LOAD, env)
    result = _result(done)
    assert result["type"] == "SentenceTransformerEmbedder"
    assert result["name"] == "sentence-transformers:all-MiniLM-L6-v2"
    lines = done.stderr.splitlines()
    assert (
        sum("exporting sentence-transformers:all-MiniLM-L6-v2 to ONNX once" in x for x in lines)
        == 1
    )
    fallback = [line for line in lines if "falling back" in line]
    assert len(fallback) == 1
    assert fallback[0].startswith("WARNING ONNX backend unavailable: the ONNX export failed: ")
    assert "onnx is not installed" in fallback[0]
    # Nothing half-exported was left to be mistaken for a model.
    (directory,) = empty.iterdir()
    assert sorted(p.name for p in directory.iterdir()) == ["export.lock"]
