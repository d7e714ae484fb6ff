"""``memhub model status|export`` in real processes, and the backend settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memhub.config import ConfigError, Settings
from memhub.embedding.onnx_cache import MODEL_FILE, CachedModel

from .helpers import child_env, run_memhub


def _rows(stdout: str) -> dict[str, str]:
    """Label and value of each status row (labels are padded to one width, then two spaces)."""
    pairs = (re.split(r"\s{2,}", line, maxsplit=1) for line in stdout.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_backend_setting() -> None:
    assert Settings.from_env({}, db="x.db").embedding_backend == "onnx"
    env = {"MEMHUB_EMBEDDING_BACKEND": " Sentence-Transformers "}
    assert Settings.from_env(env, db="x.db").embedding_backend == "sentence-transformers"
    with pytest.raises(ConfigError, match="MEMHUB_EMBEDDING_BACKEND='torch'"):
        Settings.from_env({"MEMHUB_EMBEDDING_BACKEND": "torch"}, db="x.db")


@pytest.mark.slow
def test_status_of_a_ready_cache(exported: CachedModel, cache_copy: Path) -> None:
    env = child_env(MEMHUB_MODEL_CACHE=str(cache_copy))
    done = run_memhub(["model", "status"], env)
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert rows["backend"] == "onnx"
    assert rows["model"] == "sentence-transformers:all-MiniLM-L6-v2"
    assert rows["cache"] == str(cache_copy / exported.directory.name)
    assert rows["state"] == "ready (checksums verified)"
    assert rows[MODEL_FILE].endswith(f"sha256 {exported.manifest.model_sha256}")
    assert "torch " in rows["exported"]
    assert "opset 17" in rows["exported"]
    assert rows["max tokens"] == "256"

    as_json = run_memhub(["model", "status", "--json"], env)
    data = json.loads(as_json.stdout)
    assert data["ready"] is True
    assert data["state"]["manifest"]["model_sha256"] == exported.manifest.model_sha256
    assert data["state"]["manifest"]["max_seq_length"] == 256

    again = run_memhub(["model", "export"], env)
    assert again.returncode == 0
    assert "already exported" in again.stdout


@pytest.mark.slow
def test_status_of_a_damaged_cache(exported: CachedModel, cache_copy: Path) -> None:
    model = cache_copy / exported.directory.name / MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    done = run_memhub(["model", "status"], child_env(MEMHUB_MODEL_CACHE=str(cache_copy)))
    assert done.returncode == 1
    assert _rows(done.stdout)["state"] == "damaged (model.onnx checksum mismatch)"


def test_status_of_an_empty_cache(tmp_path: Path) -> None:
    done = run_memhub(["model", "status"], child_env(MEMHUB_MODEL_CACHE=str(tmp_path)))
    assert done.returncode == 1
    rows = _rows(done.stdout)
    assert rows["state"] == "missing (no export yet)"
    assert rows["cache"].startswith(str(tmp_path))


@pytest.mark.slow
def test_export_force_rebuilds_with_progress_lines(exported: CachedModel, cache_copy: Path) -> None:
    env = child_env(MEMHUB_MODEL_CACHE=str(cache_copy))
    done = run_memhub(["model", "export", "--force"], env, timeout=600)
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("memhub: ")]
    assert len(progress) == 2, done.stderr
    assert "to ONNX once (rebuilding on request)" in progress[0]
    assert progress[1].startswith(
        "memhub: exported sentence-transformers:all-MiniLM-L6-v2 to ONNX in "
    )
    directory = cache_copy / exported.directory.name
    assert done.stdout.strip() == f"sentence-transformers:all-MiniLM-L6-v2: exported to {directory}"
    assert (
        _rows(run_memhub(["model", "status"], env).stdout)["state"] == "ready (checksums verified)"
    )
