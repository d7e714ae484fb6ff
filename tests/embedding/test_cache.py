"""The cache verifies what it loads, re-exports what is damaged, and exports only once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memhub.embedding.onnx_cache import (
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    CachedModel,
    cache_dir_for,
    ensure_cached,
    inspect,
)

from .helpers import child_env


def test_an_empty_directory_is_missing(tmp_path: Path) -> None:
    state, cached = inspect(tmp_path / "nothing", None)
    assert (state.status, cached) == ("missing", None)


def test_a_foreign_manifest_is_damaged(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text('{"format": 1, "identity": "x"}')
    state, cached = inspect(tmp_path, None)
    assert state.status == "damaged"
    assert cached is None
    (tmp_path / MANIFEST_FILE).write_bytes(b"\xff not json")
    assert inspect(tmp_path, None)[0].status == "damaged"


def test_cache_directories_differ_by_source_path(tmp_path: Path) -> None:
    a = cache_dir_for(tmp_path, tmp_path / "venv1" / "model", "sentence-transformers:m/x")
    b = cache_dir_for(tmp_path, tmp_path / "venv2" / "model", "sentence-transformers:m/x")
    assert a != b
    assert a.parent == b.parent == tmp_path
    assert a.name.startswith("m_x-")


@pytest.mark.slow
def test_every_damage_is_detected(
    exported: CachedModel, cache_copy: Path, model_source: tuple[Path, str]
) -> None:
    source, _ = model_source
    directory = cache_copy / exported.directory.name
    assert inspect(directory, source)[0].status == "ready"

    model = directory / MODEL_FILE
    original = model.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    model.write_bytes(bytes(flipped))
    state, cached = inspect(directory, source)
    assert (state.status, cached) == ("damaged", None)
    assert "model.onnx checksum mismatch" in state.reason
    model.write_bytes(original[: len(original) // 3])  # a torn copy
    assert inspect(directory, source)[0].status == "damaged"
    model.write_bytes(original)

    tokenizer = directory / TOKENIZER_FILE
    tokenizer.write_text(tokenizer.read_text().replace("[UNK]", "[UNX]", 1))
    assert "tokenizer.json checksum mismatch" in inspect(directory, source)[0].reason
    tokenizer.write_text(exported.tokenizer_json)
    assert inspect(directory, source)[0].status == "ready"

    # An export of another model folder (or a reinstalled one) is stale, not served.
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["source_fingerprint"] = "0" * 64
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    state, _ = inspect(directory, source)
    assert state.status == "stale"
    assert "changed" in state.reason


@pytest.mark.slow
def test_a_damaged_cache_is_exported_again(
    exported: CachedModel, cache_copy: Path, model_source: tuple[Path, str]
) -> None:
    source, identity = model_source
    directory = cache_copy / exported.directory.name
    model = directory / MODEL_FILE
    damaged = bytearray(model.read_bytes())
    damaged[-100] ^= 0xFF
    model.write_bytes(bytes(damaged))
    # What an exporter killed mid-way leaves behind.
    (directory / ".export-999999-dead").mkdir()
    (directory / ".export-999999-dead" / MODEL_FILE).write_bytes(b"half")

    lines: list[str] = []
    cached = ensure_cached(source, identity, cache_copy, threads=2, progress=lines.append)
    assert len(lines) == 2, lines
    assert lines[0].startswith("exporting sentence-transformers:all-MiniLM-L6-v2 to ONNX once")
    assert "model.onnx checksum mismatch" in lines[0]
    assert cached.directory == directory
    assert inspect(directory, source)[0].status == "ready"
    assert cached.manifest.probe_min_cosine >= 0.99999
    # Nothing half-written is left behind.
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [MODEL_FILE, TOKENIZER_FILE, MANIFEST_FILE, "export.lock"]
    )
    # A second call finds it ready and exports nothing.
    again: list[str] = []
    ensure_cached(source, identity, cache_copy, threads=2, progress=again.append)
    assert again == []


CONCURRENT = """
import sys
from pathlib import Path
from memhub.embedding.onnx_cache import ensure_cached
from memhub.embedding.lookup import locate_model
source, identity, _ = locate_model("all-MiniLM-L6-v2").as_tuple()
cached = ensure_cached(Path(source), identity, Path(sys.argv[1]), threads=1, progress=print)
print("sha", cached.manifest.model_sha256)
"""


@pytest.mark.slow
def test_concurrent_processes_export_once(tmp_path: Path) -> None:
    root = tmp_path / "empty-cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(root)],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdouts = [out for out, _ in outputs]
    exporting = [line for out in stdouts for line in out.splitlines() if "exporting" in line]
    assert len(exporting) == 1, stdouts
    shas = {line for out in stdouts for line in out.splitlines() if line.startswith("sha ")}
    assert len(shas) == 1
