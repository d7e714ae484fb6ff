"""``memhub install service``, ``memhub install claude-hooks`` and ``doctor``'s HTTP lines, on
throwaway home directories (the service text as written; the hooks file as the hooks read it)."""

from __future__ import annotations

import json
import os
import plistlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from memhub.config import Settings
from memhub.mcp_bridge.doctor import BAD, OK
from memhub.mcp_bridge.doctor_http import check_http
from memhub.mcp_bridge.install_hooks import main_install_hooks
from memhub.mcp_bridge.install_service import main_install_service
from tests.http.helpers import http_daemon


def _memhub(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    full.pop("XDG_CONFIG_HOME", None)
    full.update(HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "memhub", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_service_print_shows_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    done = _memhub(tmp_path, "install", "service", "--print")
    assert done.returncode == 0, done.stderr
    assert f"# {tmp_path}/.config/systemd/user/memhub.service" in done.stdout
    assert "Environment=MCP_HTTP_ENABLED=true" in done.stdout
    assert "Environment=MCP_HTTP_PORT=8000" in done.stdout
    assert "Restart=always" in done.stdout
    assert not (tmp_path / ".config").exists()


def test_service_unit_keeps_the_key_in_a_private_file(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "MCP_MEMORY_SQLITE_PATH": "/data/mem.db"}
    assert (
        main_install_service(print_only=False, now=False, db=None, environ=env, platform="linux")
        == 0
    )
    unit = (tmp_path / ".config/systemd/user/memhub.service").read_text()
    keyfile = tmp_path / ".config/memhub/api_key"
    key = keyfile.read_text().strip()
    assert len(key) >= 32
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert key not in unit
    assert f"Environment=MEMHUB_API_KEY_FILE={keyfile}" in unit
    assert "Environment=MCP_MEMORY_SQLITE_PATH=/data/mem.db" in unit
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith(" serve")
    # A second install keeps the key (the hooks were pointed at it).
    assert (
        main_install_service(print_only=False, now=False, db=None, environ=env, platform="linux")
        == 0
    )
    assert keyfile.read_text().strip() == key


def test_service_uses_mcp_api_key_when_set(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "MCP_API_KEY": "chosen-by-the-user"}
    assert (
        main_install_service(print_only=False, now=False, db=None, environ=env, platform="linux")
        == 0
    )
    assert (tmp_path / ".config/memhub/api_key").read_text().strip() == "chosen-by-the-user"


def test_launchd_agent_is_a_valid_plist(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "MCP_HTTP_PORT": "8123"}
    db = str(tmp_path / "m.db")
    assert (
        main_install_service(print_only=False, now=False, db=db, environ=env, platform="darwin")
        == 0
    )
    path = tmp_path / "Library/LaunchAgents/dev.memhub.daemon.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "dev.memhub.daemon"
    assert agent["ProgramArguments"][-3:] == ["serve", "--db", db]
    assert agent["EnvironmentVariables"]["MCP_HTTP_ENABLED"] == "true"
    assert agent["EnvironmentVariables"]["MCP_HTTP_PORT"] == "8123"
    assert "MCP_API_KEY" not in agent["EnvironmentVariables"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] is True


def test_windows_is_sent_to_the_readme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main_install_service(
        print_only=False, now=False, db=None, environ={"HOME": str(tmp_path)}, platform="win32"
    )
    assert code == 1
    assert "README" in capsys.readouterr().err


def _hooks_home(tmp_path: Path) -> Path:
    hooks = tmp_path / ".claude" / "hooks"
    hooks.mkdir(parents=True)
    config = {
        "memoryService": {
            "protocol": "auto",
            "http": {
                "endpoint": "http://127.0.0.1:8889",
                "apiKey": "auto-detect",
                "healthCheckTimeout": 3000,
            },
            "mcp": {"serverCommand": ["uv", "run", "memory", "server"], "connectionTimeout": 2000},
        },
        "codeExecution": {"enabled": True, "timeout": 8000},
        "output": {"verbose": True},
    }
    (hooks / "config.json").write_text(json.dumps(config))
    return hooks / "config.json"


def test_claude_hooks_point_at_memhub_with_a_backup(tmp_path: Path) -> None:
    path = _hooks_home(tmp_path)
    original = path.read_text()
    env = {"HOME": str(tmp_path), "MCP_HTTP_PORT": "8765", "MCP_API_KEY": "the-key"}
    assert main_install_hooks(print_only=False, environ=env) == 0
    config = json.loads(path.read_text())
    http = config["memoryService"]["http"]
    assert http == {
        "endpoint": "http://127.0.0.1:8765",
        "apiKey": "the-key",
        "healthCheckTimeout": 3000,
    }
    assert config["memoryService"]["mcp"]["serverCommand"][-1] == "bridge"
    assert config["memoryService"]["mcp"]["connectionTimeout"] == 2000
    assert config["codeExecution"] == {"enabled": False, "timeout": 8000}
    assert config["output"] == {"verbose": True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backups = list(path.parent.glob("config.json.memhub-backup-*"))
    assert len(backups) == 1
    assert backups[0].read_text() == original


def test_claude_hooks_read_the_service_key_file_and_print_hides_it(tmp_path: Path) -> None:
    path = _hooks_home(tmp_path)
    keyfile = tmp_path / ".config/memhub/api_key"
    keyfile.parent.mkdir(parents=True)
    keyfile.write_text("from-the-file\n")
    done = _memhub(tmp_path, "install", "claude-hooks", "--print")
    assert done.returncode == 0, done.stderr
    assert "from-the-file" not in done.stdout
    assert "http://127.0.0.1:8000" in done.stdout
    assert "auto-detect" in path.read_text()  # --print wrote nothing
    done = _memhub(tmp_path, "install", "claude-hooks")
    assert done.returncode == 0, done.stderr
    assert json.loads(path.read_text())["memoryService"]["http"]["apiKey"] == "from-the-file"


def test_claude_hooks_need_a_config_and_a_key(tmp_path: Path) -> None:
    missing = _memhub(tmp_path, "install", "claude-hooks")
    assert missing.returncode == 1
    assert "install mcp-memory-service's claude-hooks first" in missing.stderr
    _hooks_home(tmp_path)
    keyless = _memhub(tmp_path, "install", "claude-hooks")
    assert keyless.returncode == 1
    assert "run `memhub install service` first" in keyless.stderr


def test_the_daemon_reads_its_key_from_the_key_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "api_key"
    keyfile.write_text("key-in-a-file\n")
    env = {"MCP_API_KEY": "", "MEMHUB_API_KEY_FILE": str(keyfile)}
    with http_daemon(tmp_path / "db.sqlite", env) as daemon:
        with daemon.client(key="key-in-a-file") as c:
            assert c.get("/api/memories").status_code == 200
        with daemon.client(key="another") as c:
            assert c.get("/api/memories").status_code == 401


def test_doctor_reports_the_endpoint_and_the_hooks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = _hooks_home(home)
    with http_daemon(tmp_path / "db.sqlite") as daemon:
        port = daemon.url.rsplit(":", 1)[1]
        env = {"HOME": str(home), "MCP_HTTP_PORT": port, "MCP_API_KEY": str(daemon.key)}
        settings = Settings.from_env(
            {**env, "MCP_HTTP_ENABLED": "true"}, db=str(tmp_path / "db.sqlite")
        )
        before = check_http(settings, env)
        assert main_install_hooks(print_only=False, environ=env) == 0
        after = check_http(settings, env)
        config = json.loads(path.read_text())
        config["memoryService"]["http"]["apiKey"] = "stale"
        path.write_text(json.dumps(config))
        stale = check_http(settings, env)
    gone = check_http(settings, env)
    assert [c.mark for c in before] == [OK, BAD]
    assert "claude-hooks post to http://127.0.0.1:8889" in before[1].text
    assert [c.mark for c in after] == [OK, OK]
    assert "their key is accepted" in after[1].text
    assert [c.mark for c in stale] == [OK, BAD]
    assert "API key is refused" in stale[1].text
    assert gone[0].mark == BAD
    assert "does not answer" in gone[0].text
    for check in before + after + stale + gone:
        assert str(daemon.key) not in check.text + check.fix
