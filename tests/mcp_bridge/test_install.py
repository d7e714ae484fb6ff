import json
import sys
from pathlib import Path
from typing import Any

import pytest

from memhub.mcp_bridge import install


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    # No model export after installing (its test is test_install_exports_the_model_once).
    monkeypatch.setenv("MEMHUB_EMBEDDER", "hash")
    return tmp_path


MMS_ENTRY = {
    "command": "memory",
    "args": ["server"],
    "env": {"MCP_MEMORY_SQLITE_PATH": "/data/mem.db", "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec"},
}


def test_config_paths_per_platform(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "APPDATA": "C:/Users/u/AppData/Roaming"}
    assert install.config_path("claude-desktop", environ=env, platform="linux") == (
        tmp_path / ".config" / "Claude" / "claude_desktop_config.json"
    )
    assert install.config_path("claude-desktop", environ=env, platform="darwin") == (
        tmp_path / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    )
    assert install.config_path("claude-desktop", environ=env, platform="win32") == (
        Path("C:/Users/u/AppData/Roaming") / "Claude" / "claude_desktop_config.json"
    )
    assert install.config_path("claude-code", environ=env) == tmp_path / ".claude.json"
    assert install.config_path("cursor", environ=env) == tmp_path / ".cursor" / "mcp.json"


def test_bridge_command_is_absolute() -> None:
    command, args = install.bridge_command()
    assert Path(command).is_absolute()
    assert args[-1] == "bridge"
    _, with_db = install.bridge_command("rel/x.db")
    assert with_db[-2] == "--db"
    assert Path(with_db[-1]).is_absolute()


def test_desktop_install_preserves_everything_but_the_command(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / ".config" / "Claude" / "claude_desktop_config.json"
    path.parent.mkdir(parents=True)
    original = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {"memory": MMS_ENTRY, "github": {"command": "npx", "args": ["gh"]}},
    }
    path.write_text(json.dumps(original))
    assert install.main_install("claude-desktop", print_only=False, db=None, name="memory") == 0
    config = json.loads(path.read_text())
    assert config["globalShortcut"] == "Ctrl+Space"
    assert config["mcpServers"]["github"] == {"command": "npx", "args": ["gh"]}
    entry = config["mcpServers"]["memory"]
    assert entry["env"] == MMS_ENTRY["env"]
    assert entry["args"] == ["bridge"]
    assert Path(entry["command"]).is_absolute()
    backups = list(path.parent.glob("claude_desktop_config.json.memhub-backup-*"))
    assert len(backups) == 1
    assert json.loads(backups[0].read_text()) == original
    assert "restart Claude Desktop" in capsys.readouterr().out


def test_new_file_is_created(home: Path) -> None:
    assert install.main_install("cursor", print_only=False, db="/data/x.db", name="memory") == 0
    config = json.loads((home / ".cursor" / "mcp.json").read_text())
    entry = config["mcpServers"]["memory"]
    assert entry["args"] == ["bridge", "--db", "/data/x.db"]
    assert entry["env"] == {}


def test_claude_code_user_scope_shape_and_mode(home: Path) -> None:
    path = home / ".claude.json"
    path.write_text(json.dumps({"numStartups": 3, "projects": {"/p": {"mcpServers": {}}}}))
    path.chmod(0o600)
    assert install.main_install("claude-code", print_only=False, db=None, name="memory") == 0
    config = json.loads(path.read_text())
    assert config["numStartups"] == 3
    assert config["projects"] == {"/p": {"mcpServers": {}}}
    entry = config["mcpServers"]["memory"]
    assert entry["type"] == "stdio"
    assert entry["args"] == ["bridge"]
    assert entry["env"] == {}
    assert path.stat().st_mode & 0o777 == 0o600


def test_print_writes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / ".claude.json"
    assert install.main_install("claude-code", print_only=True, db=None, name="memory") == 0
    assert not path.exists()
    out = capsys.readouterr().out
    assert "claude mcp add --scope user memory -- " in out
    snippet = out.split("\n", 1)[1].split("# or", 1)[0]
    assert json.loads(snippet)["mcpServers"]["memory"]["args"] == ["bridge"]


def test_invalid_json_is_left_alone(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert install.main_install("cursor", print_only=False, db=None, name="memory") == 1
    assert path.read_text() == "{not json"
    assert "not valid JSON" in capsys.readouterr().err


def test_other_mms_entries_are_pointed_out(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    old = {"command": "python", "args": ["-m", "mcp_memory_service.server"]}
    path.write_text(json.dumps({"mcpServers": {"mem-old": old}}))
    assert install.main_install("cursor", print_only=False, db=None, name="memory") == 0
    assert "'mem-old' still runs mcp-memory-service" in capsys.readouterr().err


def test_remote_entry_becomes_local() -> None:
    current = {"mcpServers": {"memory": {"type": "http", "url": "http://x/mcp", "env": {"A": "1"}}}}
    config = install.updated_config(
        current, "memory", "/bin/memhub", ["bridge"], client="claude-code"
    )
    assert config["mcpServers"]["memory"] == {
        "type": "stdio",
        "env": {"A": "1"},
        "command": "/bin/memhub",
        "args": ["bridge"],
    }


@pytest.mark.parametrize(
    ("entry", "mms"),
    [
        ({"command": "memory", "args": ["server"]}, True),
        ({"command": "uvx", "args": ["--from", "mcp-memory-service", "memory", "server"]}, True),
        (
            {"command": "uv", "args": ["--directory", "/x/mcp-memory-service", "run", "memory"]},
            True,
        ),
        ({"command": "/venv/bin/memhub", "args": ["bridge"]}, False),
        ({"command": "npx", "args": ["@modelcontextprotocol/server-memory"]}, False),
    ],
)
def test_looks_like_mms(entry: Any, mms: Any) -> None:
    assert install.looks_like_mms(entry) is mms
    assert install.points_at_memhub(entry) is (entry["args"] == ["bridge"])
