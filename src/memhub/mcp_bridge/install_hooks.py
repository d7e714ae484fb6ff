"""``memhub install claude-hooks``: point mcp-memory-service's Claude Code hooks at memhub.

The hooks (``~/.claude/hooks/``, installed by upstream's ``install_hooks.py``) read
``~/.claude/hooks/config.json``; this edits exactly the keys that decide where they go:

* ``memoryService.http.endpoint``: memhub's endpoint (``MCP_HTTP_HOST``/``MCP_HTTP_PORT``);
* ``memoryService.http.apiKey``: the key the daemon accepts (``MCP_API_KEY``, else the key file
  ``memhub install service`` wrote). The hooks read the key only from this file, so it is put
  here, in a file kept private (0600), never on a command line;
* ``memoryService.mcp.serverCommand``: ``memhub bridge`` (the hooks' stdio fallback would
  otherwise start mcp-memory-service on the same database);
* ``codeExecution.enabled``: off (it runs ``python3 -c "from mcp_memory_service.api import …"``
  against the database file directly, past the daemon).

Everything else is kept; the original is saved next to it first.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from memhub.config import DEFAULT_HTTP_PORT, ConfigError, api_key
from memhub.mcp_bridge.install import InstallError, bridge_command, read_config, write_config
from memhub.mcp_bridge.install_service import key_file, read_key

if TYPE_CHECKING:
    from collections.abc import Mapping

SECRET_MODE: Final = 0o600


def hooks_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``~/.claude/hooks/config.json``, where the hooks look first (``os.homedir()``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("HOME") or Path.home()) / ".claude" / "hooks" / "config.json"


def endpoint(environ: Mapping[str, str]) -> str:
    host = environ.get("MCP_HTTP_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    port = environ.get("MCP_HTTP_PORT") or str(DEFAULT_HTTP_PORT)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def daemon_key(environ: Mapping[str, str]) -> str | None:
    """The key memhub's daemon accepts, from where the daemon itself reads it."""
    try:
        key = api_key(environ)
    except ConfigError:
        key = None
    return key or read_key(key_file(environ))


def updated_hooks_config(current: Mapping[str, Any], url: str, key: str) -> dict[str, Any]:
    config = dict(current)
    service = config.get("memoryService")
    if service is None:
        service = {}
    if not isinstance(service, dict):
        raise InstallError("its memoryService is not a JSON object")
    service = dict(service)
    command, args = bridge_command()
    service["http"] = {**_object(service.get("http")), "endpoint": url, "apiKey": key}
    service["mcp"] = {**_object(service.get("mcp")), "serverCommand": [command, *args]}
    service.setdefault("preferredProtocol", "http")
    config["memoryService"] = service
    config["codeExecution"] = {**_object(config.get("codeExecution")), "enabled": False}
    return config


def _object(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def main_install_hooks(*, print_only: bool, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    path = hooks_config_path(env)
    if not path.exists():
        print(
            f"memhub install claude-hooks: {path} does not exist: install mcp-memory-service's "
            "claude-hooks first (its install_hooks.py), then run this again",
            file=sys.stderr,
        )
        return 1
    key = daemon_key(env)
    if key is None:
        print(
            "memhub install claude-hooks: no API key found (MCP_API_KEY is unset and "
            f"{key_file(env)} does not exist): run `memhub install service` first",
            file=sys.stderr,
        )
        return 1
    url = endpoint(env)
    try:
        config = updated_hooks_config(read_config(path), url, key)
    except InstallError as exc:
        print(f"memhub install claude-hooks: {path}: {exc}", file=sys.stderr)
        return 1
    if print_only:
        shown = json.loads(json.dumps(config["memoryService"]))
        shown["http"]["apiKey"] = "<the key from " + str(key_file(env)) + ">"
        print(f"# {path}: memoryService")
        print(json.dumps(shown, indent=2))
        return 0
    try:
        backup = write_config(path, config)
        os.chmod(path, SECRET_MODE)  # it now holds the key
        if backup is not None:
            os.chmod(backup, SECRET_MODE)
    except OSError as exc:
        print(f"memhub install claude-hooks: {path}: cannot write it: {exc}", file=sys.stderr)
        return 1
    saved = f" (previous version saved as {backup})" if backup else ""
    print(f"memhub: {path}: the hooks now use {url} with memhub's API key{saved}")
    return 0
