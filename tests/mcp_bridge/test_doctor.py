from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

from memhub.config import Settings
from memhub.mcp_bridge import doctor

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    return tmp_path


def test_sqlite_vec_loads() -> None:
    assert doctor.check_sqlite_vec().mark == doctor.OK


def test_hash_embedder_needs_no_model(tmp_path: Path) -> None:
    settings = Settings.from_env({"MEMHUB_EMBEDDER": "hash"}, db=str(tmp_path / "x.db"))
    assert doctor.check_model(settings).mark == doctor.SKIP


def test_missing_database_is_fine_and_garbage_is_not(tmp_path: Path) -> None:
    settings = Settings.from_env({}, db=str(tmp_path / "x.db"))
    fresh = doctor.check_database(settings)
    assert isinstance(fresh, doctor.Check)
    assert fresh.mark == doctor.OK
    (tmp_path / "x.db").write_bytes(b"not a database at all, just bytes" * 100)
    check = doctor.check_database(settings)
    assert isinstance(check, doctor.Check)
    assert check.mark == doctor.BAD
    assert str(tmp_path / "x.db") in check.text
    assert not (tmp_path / "x.db-wal").exists()


def test_client_configs(home: Path) -> None:
    cursor = home / ".cursor" / "mcp.json"
    cursor.parent.mkdir()
    cursor.write_text(
        json.dumps({"mcpServers": {"memory": {"command": "memory", "args": ["server"]}}})
    )
    code = home / ".claude.json"
    code.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "memory": {"command": sys.executable, "args": ["-m", "memhub", "bridge"]}
                }
            }
        )
    )
    checks = {c.text.split(":")[0]: c for c in doctor.check_clients()}
    assert checks["claude-desktop"].mark == doctor.SKIP
    assert checks["cursor"].mark == doctor.BAD
    assert checks["cursor"].fix == "memhub install cursor"
    assert checks["claude-code"].mark == doctor.OK


def test_broken_memhub_command_is_reported(home: Path) -> None:
    cursor = home / ".cursor" / "mcp.json"
    cursor.parent.mkdir()
    cursor.write_text(
        json.dumps({"mcpServers": {"memory": {"command": "/nope/memhub", "args": ["bridge"]}}})
    )
    check = next(c for c in doctor.check_clients() if c.text.startswith("cursor"))
    assert check.mark == doctor.BAD
    assert "missing" in check.text


def test_doctor_warns_about_memory_files_other_users_can_read(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    settings = Settings.from_env({}, db=str(db))
    db.write_bytes(b"")
    db.chmod(0o600)
    assert [c.mark for c in doctor.check_file_modes(settings)] == [doctor.OK]
    db.chmod(0o644)
    wal = tmp_path / "x.db-wal"
    wal.write_bytes(b"")
    wal.chmod(0o640)
    checks = doctor.check_file_modes(settings)
    assert [c.mark for c in checks] == [doctor.WARN, doctor.WARN]
    assert "other local users can read" in checks[0].text
    assert checks[0].fix == f"chmod 600 {db}"


def test_model_lookup_is_the_loaders(tmp_path: Path) -> None:
    from memhub.embedding.lookup import PACKAGED_ID, has_weights, locate_model

    location = locate_model("all-MiniLM-L6-v2")
    assert location.identity == PACKAGED_ID
    assert any(has_weights(folder) for folder in location.candidates)
    own = tmp_path / "my-model"
    own.mkdir()
    assert locate_model(str(own)).identity == "sentence-transformers:my-model"
    assert not has_weights(own)
    settings = Settings.from_env({"MCP_EMBEDDING_MODEL": str(own)}, db=str(tmp_path / "x.db"))
    check = doctor.check_model(settings)
    assert check.mark == doctor.BAD
    assert str(own) in check.text
