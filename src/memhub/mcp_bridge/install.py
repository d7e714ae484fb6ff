"""``memhub install``: point a client's ``memory`` MCP server at ``memhub bridge``.

The entry keeps its name (``memory``, MMS's), its ``env`` (so ``MCP_MEMORY_SQLITE_PATH`` and
friends keep choosing the same database) and every other key; only ``command`` and ``args``
change. The rest of the file is preserved, the original is copied to a timestamped backup
first, and the new file replaces the old one atomically with the same permissions (Claude
Code's file holds tokens). ``--print`` shows the result and writes nothing.

Config files:

* Claude Desktop: ``claude_desktop_config.json`` in ``~/Library/Application Support/Claude``
  (macOS), ``%APPDATA%\\Claude`` (Windows) or ``$XDG_CONFIG_HOME/Claude`` (``~/.config``).
* Claude Code: ``~/.claude.json`` (or ``$CLAUDE_CONFIG_DIR/.claude.json``), top-level
  ``mcpServers``: the user scope, where ``claude mcp add --scope user`` writes, with the same
  ``{"type": "stdio", "command", "args", "env"}`` shape.
* Cursor: ``~/.cursor/mcp.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from memhub.storage.postgres.target import is_database_url

if TYPE_CHECKING:
    from collections.abc import Mapping

CLIENTS: Final = ("claude-desktop", "claude-code", "cursor")
EXIT_OK: Final = 0
EXIT_ERROR: Final = 1


class InstallError(Exception):
    """The configuration cannot be updated; the message says which file and why."""


def config_path(
    client: str, *, environ: Mapping[str, str] | None = None, platform: str | None = None
) -> Path:
    """Where ``client`` keeps its MCP server list on this machine."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if client == "claude-desktop":
        if plat == "darwin":
            base = home / "Library" / "Application Support" / "Claude"
        elif plat.startswith("win"):
            base = Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "Claude"
        else:
            base = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "Claude"
        return base / "claude_desktop_config.json"
    if client == "claude-code":
        custom = env.get("CLAUDE_CONFIG_DIR")
        return (Path(custom).expanduser() if custom else home) / ".claude.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    raise InstallError(f"unknown client {client!r}; expected one of {', '.join(CLIENTS)}")


def bridge_command(db: str | None = None) -> tuple[str, list[str]]:
    """The absolute command and arguments that run ``memhub bridge`` from this installation.

    The ``memhub`` script next to this interpreter is preferred (clients start servers with a
    minimal PATH, so a bare ``memhub`` may not resolve); ``python -m memhub`` is the fallback.
    """
    exe_dir = Path(sys.executable).parent
    script = exe_dir / ("memhub.exe" if sys.platform == "win32" else "memhub")
    args = ["bridge"]
    if db and is_database_url(db):
        _refuse_password(db)
        args += ["--db", db]  # a team store's URL is no path
    elif db:
        args += ["--db", str(Path(db).expanduser().absolute())]
    if script.exists():
        return str(script), args
    return sys.executable, ["-m", "memhub", *args]


def updated_config(
    current: Mapping[str, Any], name: str, command: str, args: list[str], *, client: str
) -> dict[str, Any]:
    """``current`` with server ``name`` running ``command args``; everything else kept."""
    config = dict(current)
    servers = config.get("mcpServers")
    if servers is None:
        servers = {}
    if not isinstance(servers, dict):
        raise InstallError("its mcpServers is not a JSON object")
    servers = dict(servers)
    entry = servers.get(name)
    if entry is not None and not isinstance(entry, dict):
        raise InstallError(f"its mcpServers.{name} is not a JSON object")
    if entry is None:
        entry = {"type": "stdio"} if client == "claude-code" else {}
        entry.update({"command": command, "args": args, "env": {}})
    else:
        entry = {**entry, "command": command, "args": args}
        # A remote (HTTP/SSE) entry becomes a local one: its URL keys would contradict it.
        for key in ("url", "headers", "transport", "serverUrl"):
            entry.pop(key, None)
        if "type" in entry:
            entry["type"] = "stdio"
    servers[name] = entry
    config["mcpServers"] = servers
    return config


def mms_entries(config: Mapping[str, Any]) -> list[str]:
    """Names of servers in ``config`` that still start mcp-memory-service."""
    servers = config.get("mcpServers")
    if not isinstance(servers, dict):
        return []
    return [name for name, entry in servers.items() if looks_like_mms(entry)]


def looks_like_mms(entry: object) -> bool:
    """Whether a server entry runs mcp-memory-service (``memory server``, the module, uvx…)."""
    if not isinstance(entry, dict):
        return False
    command = str(entry.get("command", ""))
    raw_args = entry.get("args")
    args = [str(a) for a in raw_args] if isinstance(raw_args, list) else []
    words = [Path(command).name, *args]
    text = " ".join(words)
    if "mcp_memory_service" in text or "mcp-memory-service" in text:
        return True
    if Path(command).name in ("memory", "memory.exe", "memory-server") and "bridge" not in args:
        return True
    return "memory" in args and "server" in args and "memhub" not in text


def points_at_memhub(entry: object) -> bool:
    """Whether a server entry runs ``memhub bridge``."""
    if not isinstance(entry, dict):
        return False
    raw_args = entry.get("args")
    args = [str(a) for a in raw_args] if isinstance(raw_args, list) else []
    command = Path(str(entry.get("command", ""))).name
    is_memhub = command.startswith("memhub") or ("-m" in args and "memhub" in args)
    return is_memhub and "bridge" in args


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` ({} if the file does not exist or is empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InstallError(f"cannot read it: {exc}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InstallError(f"it is not valid JSON ({exc}); fix or move it, then retry") from None
    if not isinstance(data, dict):
        raise InstallError("it does not hold a JSON object")
    return data


def write_config(path: Path, config: Mapping[str, Any]) -> Path | None:
    """Back up ``path`` (if it exists), then replace it atomically; returns the backup path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    mode = None
    if path.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.memhub-backup-{stamp}")
        shutil.copy2(path, backup)
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False)
            f.write("\n")
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return backup


def _refuse_password(url: str) -> None:
    """A client's configuration is no place for a password (it is read by other tools)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    if parts.password is not None or "password" in dict(parse_qsl(parts.query)):
        raise InstallError(
            "the database URL carries a password; remove it and put the password in ~/.pgpass "
            "or a 0600 file named by MEMHUB_DATABASE_PASSWORD_FILE"
        )


def main_install(client: str, *, print_only: bool, db: str | None, name: str) -> int:
    """Install (or with ``print_only`` show) the ``memhub bridge`` entry for ``client``.

    Returns:
        0 on success, 1 if the configuration could not be read or written.
    """
    try:
        path = config_path(client)
        command, args = bridge_command(db)
        current = read_config(path)
        config = updated_config(current, name, command, args, client=client)
    except InstallError as exc:
        print(f"memhub install: {_where(client)}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    others = [n for n in mms_entries(config) if n != name]
    if print_only:
        print(f"# {path}: mcpServers.{name}")
        print(json.dumps({"mcpServers": {name: config["mcpServers"][name]}}, indent=2))
        if client == "claude-code":
            print("# or, with the Claude Code CLI:")
            print(f"claude mcp add --scope user {name} -- {_shell_join([command, *args])}")
        _warn_others(others)
        return EXIT_OK
    try:
        backup = write_config(path, config)
    except OSError as exc:
        print(f"memhub install: {path}: cannot write it: {exc}", file=sys.stderr)
        return EXIT_ERROR
    saved = f" (previous version saved as {backup})" if backup else ""
    print(f"memhub: {path}: mcpServers.{name} now runs {command} {' '.join(args)}{saved}")
    _prepare_model(db)
    print(f"memhub: restart {_client_name(client)} to use it.")
    _warn_others(others)
    return EXIT_OK


def _prepare_model(db: str | None) -> None:
    """Make the one-time ONNX export now, with a line saying so, if the daemon would have to.

    Otherwise the app's first tool call would wait for it (10-60 s) without a word.
    """
    from memhub.config import ConfigError, Settings
    from memhub.embedding.model_cli import export_if_pending

    try:
        settings = Settings.from_env(db=db)
    except ConfigError:
        return  # the bridge reports a bad setting itself, when the app starts it
    export_if_pending(settings, lambda line: print(f"memhub: {line}", flush=True))


def _warn_others(names: list[str]) -> None:
    for other in names:
        print(
            f"memhub: note: the server {other!r} still runs mcp-memory-service on its own; "
            "remove it or point it at memhub too (--name)",
            file=sys.stderr,
        )


def _where(client: str) -> str:
    try:
        return str(config_path(client))
    except InstallError:
        return client


def _client_name(client: str) -> str:
    return {"claude-desktop": "Claude Desktop", "claude-code": "Claude Code"}.get(client, "Cursor")


def _shell_join(words: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(w) for w in words)
