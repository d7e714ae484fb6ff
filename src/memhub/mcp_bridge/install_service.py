"""``memhub install service``: run the daemon at login, with the HTTP endpoint on.

The hooks fire whenever Claude Code starts or ends a session, often before any app has started
a bridge (mcp-memory-service's own #479 and #530: hooks POSTing to a port nothing listens on,
losing every session summary). A login service keeps the daemon, and so the endpoint, up.

* Linux: a systemd **user** unit, ``~/.config/systemd/user/memhub.service``; ``--now`` also
  runs ``systemctl --user daemon-reload`` and ``enable --now``.
* macOS: a launchd agent, ``~/Library/LaunchAgents/dev.memhub.daemon.plist`` (load it with
  ``launchctl bootstrap gui/$(id -u) <plist>``; ``--now`` does).
* Windows: the README's steps (a Task Scheduler task at logon).

The API key never appears in the unit, the plist or a command line: it lives in
``~/.config/memhub/api_key`` (0600), created with a fresh random key unless ``MCP_API_KEY`` is
set, and the daemon reads it through ``MEMHUB_API_KEY_FILE``. ``Restart=always``: if a bridge's
daemon already serves the database, the service's start exits (code 3) and is retried until it
can take over.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final
from xml.sax.saxutils import escape

from memhub.config import DEFAULT_HTTP_PORT

if TYPE_CHECKING:
    from collections.abc import Mapping

UNIT_NAME: Final = "memhub.service"
AGENT_LABEL: Final = "dev.memhub.daemon"
RESTART_S: Final = 5


def key_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where the HTTP API key lives: ``$XDG_CONFIG_HOME/memhub/api_key`` (``~/.config``)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    base = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "memhub" / "api_key"


def read_key(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return lines[0].strip() if lines and lines[0].strip() else None


def ensure_key(path: Path, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The key (``MCP_API_KEY``, else the file's, else a new one) and whether it was written."""
    wanted = environ.get("MCP_API_KEY") or read_key(path)
    if wanted is not None and read_key(path) == wanted:
        return wanted, False
    key = wanted or secrets.token_urlsafe(32)
    write_private(path, key + "\n")
    return key, True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by this user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def serve_command(db: str | None) -> list[str]:
    """The absolute ``memhub serve`` command of this installation."""
    script = Path(sys.executable).parent / ("memhub.exe" if sys.platform == "win32" else "memhub")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "memhub"]
    command.append("serve")
    if db:
        command += ["--db", str(Path(db).expanduser().absolute())]
    return command


def service_environment(
    keys: Path, environ: Mapping[str, str], *, port: int, host: str
) -> dict[str, str]:
    """What the service's daemon runs with: HTTP on, the key file, and the database choice."""
    env = {
        "MCP_HTTP_ENABLED": "true",
        "MCP_HTTP_HOST": host,
        "MCP_HTTP_PORT": str(port),
        "MEMHUB_API_KEY_FILE": str(keys),
    }
    for name in ("MCP_MEMORY_SQLITE_PATH", "MCP_MEMORY_SQLITEVEC_PATH", "MCP_MEMORY_BASE_DIR"):
        if environ.get(name):
            env[name] = environ[name]
    return env


def _systemd_quote(word: str) -> str:
    if word and all(c.isalnum() or c in "/._-=:+@" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(command: list[str], env: Mapping[str, str]) -> str:
    """The text of ``memhub.service`` (a systemd user unit)."""
    lines = [
        "[Unit]",
        "Description=memhub: one shared memory daemon for every MCP client (REST + MCP on "
        f"http://{env['MCP_HTTP_HOST']}:{env['MCP_HTTP_PORT']})",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={' '.join(_systemd_quote(w) for w in command)}",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()),
        # A bridge's daemon may hold the database (exit 3): try again until the service can
        # take over; also come back after a crash.
        "Restart=always",
        f"RestartSec={RESTART_S}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(command: list[str], env: Mapping[str, str], log: Path) -> str:
    """The text of the launchd agent (``~/Library/LaunchAgents/dev.memhub.daemon.plist``)."""
    args = "\n".join(f"    <string>{escape(w)}</string>" for w in command)
    envs = "\n".join(
        f"    <key>{escape(k)}</key>\n    <string>{escape(v)}</string>" for k, v in env.items()
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{AGENT_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
{envs}
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>{RESTART_S}</integer>
  <key>StandardErrorPath</key>
  <string>{escape(str(log))}</string>
</dict>
</plist>
"""


def unit_path(platform: str, environ: Mapping[str, str]) -> Path:
    home = Path(environ.get("HOME") or Path.home())
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    base = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "systemd" / "user" / UNIT_NAME


def main_install_service(
    *,
    print_only: bool,
    now: bool,
    db: str | None,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> int:
    """Write (or print) the login service; with ``now``, also start it."""
    env = dict(os.environ if environ is None else environ)
    plat = sys.platform if platform is None else platform
    if plat.startswith("win"):
        print(
            "memhub install service: Windows has no user service manager memhub can drive; "
            "see the README ('Run at login on Windows') for the Task Scheduler steps",
            file=sys.stderr,
        )
        return 1
    keys = key_file(env)
    port = int(env.get("MCP_HTTP_PORT") or DEFAULT_HTTP_PORT)
    host = env.get("MCP_HTTP_HOST") or "127.0.0.1"
    service_env = service_environment(keys, env, port=port, host=host)
    command = serve_command(db)
    path = unit_path(plat, env)
    if plat == "darwin":
        log = Path(env.get("HOME") or Path.home()) / "Library" / "Logs" / "memhub.log"
        text = launchd_plist(command, service_env, log)
    else:
        text = systemd_unit(command, service_env)
    if print_only:
        print(f"# {path}")
        print(text, end="")
        print(f"# the API key is kept in {keys} (0600); it is not part of this file")
        return 0
    _, created = ensure_key(keys, env)
    write_private(path, text)
    print(f"memhub: wrote {path}")
    print(
        f"memhub: the HTTP API key is in {keys}"
        + (" (new, random)" if created else " (kept)")
        + "; point the hooks at it with `memhub install claude-hooks`"
    )
    if plat == "darwin":
        start = ["launchctl", "bootstrap", f"gui/{os.getuid()}", str(path)]
        steps = [start]
    else:
        steps = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", UNIT_NAME],
        ]
    if not now:
        print("memhub: start it now with:")
        for step in steps:
            print("    " + " ".join(step))
        return 0
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(
                f"memhub install service: `{' '.join(step)}` failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()}",
                file=sys.stderr,
            )
            return 1
    print(f"memhub: started; the endpoint answers on http://{host}:{port}/api/health")
    return 0
