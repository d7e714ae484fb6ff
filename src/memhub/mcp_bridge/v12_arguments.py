"""The arguments mcp-memory-service 12.x added to the nine tools, as memhub serves them.

* ``agent_id`` (store, store_session, search, list): on a write, the author is the argument,
  else ``MCP_AGENT_ID`` from the bridge's environment (the client's, as for upstream's stdio
  server), else a non-empty ``metadata.agent_id``; it is kept as ``metadata.agent_id``. On a
  read it is a filter (never taken from the environment): memories whose
  ``metadata.agent_id`` equals it or that carry the tag ``agent:<id>``. The daemon applies it
  in SQL before the top-``limit`` cut, so a scoped search never returns another agent's memory.
* ``store``: memhub serves the ``'default'`` store only. ``'default'`` (or no store) works as
  usual; any other store is refused with an ordinary ``Error: …`` answer rather than answered
  from ``'default'``, and ``'all'`` on a read answers from ``'default'`` with a note saying so
  (on an update it changes nothing, as in 12.x; on a delete it is refused).
* ``memory_search``: ``mode: "ranked"`` (12.x's multi-signal rerank) runs as ``semantic`` and
  says so in a note; ``rerank`` is accepted and ignored, as upstream does unless its server sets
  ``MCP_RERANK_ENABLED``; ``summarize: true`` gets upstream's "Summarization unavailable"
  preamble and the raw results, which is what upstream answers when summarizing is off.
  ``include_beliefs`` and ``ranking_weights`` are accepted; memhub has no beliefs.

Nothing here talks to the daemon: the tool layer asks these functions before and after a call.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from memhub.domain.stores import ALL_STORES as ALL_STORES
from memhub.domain.stores import DEFAULT_STORE

if TYPE_CHECKING:
    from collections.abc import Mapping

RANKED_NOTE: Final = (
    "Note: memhub has no 'ranked' mode (12.x's time-decay, access and quality rerank); "
    "these are the semantic results.\n\n"
)


def _clean(value: object) -> str | None:
    """An agent id as 12.x normalizes one: a stripped scalar, empty meaning absent."""
    if value is None or isinstance(value, dict | list | tuple | set):
        return None
    text = str(value).strip()
    return text or None


def with_author(
    arguments: Mapping[str, Any],
    metadata: dict[str, Any],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` with 12.x's ``agent_id`` resolved into it (unchanged when there is none)."""
    env = os.environ if environ is None else environ
    explicit = arguments.get("agent_id")
    author = (
        (explicit if isinstance(explicit, str) and explicit else None)
        or env.get("MCP_AGENT_ID")
        or _clean(metadata.get("agent_id"))
    )
    if author is None:
        return metadata
    return {**metadata, "agent_id": author}


def author_filter(arguments: Mapping[str, Any]) -> str | None:
    """The agent a search or list is scoped to (12.x filters whenever the key is given)."""
    value = arguments.get("agent_id")
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def requested_store(arguments: Mapping[str, Any]) -> str:
    value = arguments.get("store")
    if value is None:
        return DEFAULT_STORE
    return value if isinstance(value, str) else str(value)


def update_store(arguments: Mapping[str, Any]) -> str | None:
    """12.4's unadvertised ``store`` of ``memory_update``: the memory must be in it."""
    value = arguments.get("store")
    if value is None or value == ALL_STORES:
        return None
    return value if isinstance(value, str) else str(value)


def prepare_search(arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Search arguments memhub can run, and the preamble that says what was changed."""
    args = dict(arguments)
    preamble = ""
    if args.get("summarize") is True:
        reason = (
            "memhub has no summarizer"
            if os.environ.get("MCP_SEARCH_SUMMARIZE_ENABLED", "").lower() == "true"
            else "disabled by MCP_SEARCH_SUMMARIZE_ENABLED"
        )
        preamble += f"Summarization unavailable: {reason}. Returning raw results.\n\n"
    mode = args.get("mode")
    if isinstance(mode, str) and mode.strip().lower() == "ranked":
        args["mode"] = "semantic"
        preamble += RANKED_NOTE
    return args, preamble
