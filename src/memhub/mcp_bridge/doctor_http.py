"""``memhub doctor``'s HTTP lines: does the endpoint answer, is it memhub's, do the claude-hooks
point at it with a key it accepts. Only GETs that change nothing; no key is ever printed."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Final

from memhub.mcp_bridge.doctor import BAD, OK, SKIP, Check
from memhub.mcp_bridge.install import InstallError, read_config
from memhub.mcp_bridge.install_hooks import daemon_key, endpoint, hooks_config_path
from memhub.mcp_bridge.install_service import unit_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.config import Settings

PROBE_TIMEOUT_S: Final = 3.0  # what the hooks give a health check
FIX_ENDPOINT: Final = (
    "`memhub install service --now` (or run `memhub serve` with MCP_HTTP_ENABLED=true)"
)
FIX_HOOKS: Final = "`memhub install claude-hooks`"


def _get(url: str, key: str | None = None) -> tuple[int, Any]:
    """Status and JSON body of a GET (status 0: nothing answered)."""
    headers = {"X-API-Key": key} if key else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        # No proxies: the endpoint is local, and a proxy must never see the key.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=PROBE_TIMEOUT_S) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def check_http(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if environ is None else environ
    url = endpoint(env)
    hooks_path = hooks_config_path(env)
    service = unit_path("darwin" if os.uname().sysname == "Darwin" else "linux", env)
    if not (settings.http_enabled or service.exists() or hooks_path.exists()):
        return [Check(SKIP, "HTTP endpoint: not enabled (MCP_HTTP_ENABLED) and no hooks use it")]
    status, _ = _get(f"{url}/api/health")
    if status != 200:
        return [
            Check(BAD, f"HTTP endpoint {url} does not answer", FIX_ENDPOINT),
            *_hooks_lines(hooks_path, url, reachable=False),
        ]
    _, doc = _get(f"{url}/openapi.json")
    title = doc.get("info", {}).get("title") if isinstance(doc, dict) else None
    if title != "memhub":
        fix = "stop it (`memhub doctor` cannot tell what it is), then " + FIX_ENDPOINT
        return [Check(BAD, f"HTTP endpoint {url} answers, but it is not memhub's", fix)]
    lines = [Check(OK, f"HTTP endpoint {url} answers (memhub)")]
    key = daemon_key(env)
    if key is not None and _get(f"{url}/api/health/detailed", key)[0] == 401:
        lines.append(
            Check(
                BAD,
                "the endpoint refuses the key in MCP_API_KEY / the key file",
                "restart the daemon after changing the key (`memhub stop`)",
            )
        )
    return lines + _hooks_lines(hooks_path, url, reachable=True)


def _hooks_lines(path: Any, url: str, *, reachable: bool) -> list[Check]:
    if not path.exists():
        return [Check(SKIP, f"claude-hooks: no config at {path}")]
    try:
        config = read_config(path)
    except InstallError as exc:
        return [Check(BAD, f"claude-hooks: {path}: {exc}", "fix the JSON by hand")]
    service = config.get("memoryService")
    http = service.get("http") if isinstance(service, dict) else None
    http = http if isinstance(http, dict) else {}
    configured = str(http.get("endpoint") or "http://127.0.0.1:8000").rstrip("/")
    if configured != url:
        return [Check(BAD, f"claude-hooks post to {configured}; memhub serves {url}", FIX_HOOKS)]
    if not reachable:
        return [Check(OK, f"claude-hooks point at {url} (which does not answer: see above)")]
    key = http.get("apiKey")
    status, _ = _get(f"{url}/api/health/detailed", str(key) if key else None)
    if status == 401:
        return [Check(BAD, "claude-hooks' API key is refused by the endpoint", FIX_HOOKS)]
    if status != 200:
        return [Check(BAD, f"claude-hooks' health check gets HTTP {status}", FIX_HOOKS)]
    return [Check(OK, f"claude-hooks point at {url} and their key is accepted")]
