"""``get_onboarding_guide`` and ``get_bootstrap_profile``: 12.4's texts for agents.

The onboarding guides are 12.4's static texts, verbatim (they describe 12.4's own server,
including behaviour 12.4 itself does not fully have, and are reproduced as they are). The
bootstrap profile is off unless ``MCP_BOOTSTRAP_ENABLED`` says otherwise, as in 12.4.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from memhub.mcp_bridge.calls import ToolResult

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.mcp_bridge.calls import Daemon

GUIDES_FILE: Final = "mms-12.4.0-onboarding.json"
BOOTSTRAP_DISABLED: Final = (
    "=== BEHAVIORAL PROFILE (v1) ===\n\n"
    "Bootstrap disabled. Set MCP_BOOTSTRAP_ENABLED=true to enable.\n"
    "=== END PROFILE ==="
)
BOOTSTRAP_NOT_SERVED: Final = (
    "Error: get_bootstrap_profile with MCP_BOOTSTRAP_ENABLED is not served by memhub: it has "
    "no behavioral-profile builder (12.4's ranking, similarity dedup and formatter plugins); "
    "unset MCP_BOOTSTRAP_ENABLED to get 12.4's 'Bootstrap disabled' profile"
)


@functools.cache
def _guides() -> dict[str, str]:
    text = resources.files(__package__).joinpath(GUIDES_FILE).read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def onboarding_text(client_type: object) -> str:
    guides = _guides()
    if isinstance(client_type, str) and client_type in ("kiro", "claude-code"):
        return guides[client_type]
    return guides["generic"]


async def onboarding(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    return ToolResult(onboarding_text(args.get("client_type", "generic")))


def bootstrap_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("MCP_BOOTSTRAP_ENABLED", "false").lower() in ("true", "1", "yes")


async def bootstrap(
    daemon: Daemon, args: dict[str, Any], environ: Mapping[str, str] | None = None
) -> ToolResult:
    env = os.environ if environ is None else environ
    if not bootstrap_enabled(env):
        return ToolResult(BOOTSTRAP_DISABLED)
    return ToolResult(BOOTSTRAP_NOT_SERVED)
