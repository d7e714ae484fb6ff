"""Who may use the HTTP endpoint: mcp-memory-service 12.4's API-key rules, without OAuth.

The order is upstream's (``web/oauth/middleware.py`` ``get_current_user``):

1. ``Authorization: Bearer <key>``: the key, or 401 ``invalid_token`` (even with anonymous
   access on: a wrong credential is never read as no credential);
2. ``X-API-Key: <key>``: the key; a wrong one falls through, as upstream;
3. anonymous access (``MCP_ALLOW_ANONYMOUS_ACCESS``) with ``MCP_ANONYMOUS_SCOPE``;
4. otherwise 401 ``authorization_required``, whose text says which variable to set.

Keys are compared with :func:`hmac.compare_digest` on bytes. Unlike upstream, a key in the query
string (``?api_key=``, which upstream stopped honouring in #1117 but still ignores silently) is
refused outright: a URL ends up in logs and shell history, and a client that sends one should
learn at once that it never works. Nothing here logs a key or a header value.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

import attrs

MAX_API_KEY_CHARS: Final = 512  # upstream's MAX_API_KEY_LEN
API_KEY_SCOPES: Final = frozenset({"read", "write", "admin"})
QUERY_KEY_NAMES: Final = frozenset({"api_key", "apikey", "api-key", "x-api-key"})

INVALID_TOKEN: Final = "OAuth is disabled. Use API key authentication or enable anonymous access."
NEEDS_KEY: Final = (
    "Authorization required. Provide valid API key via X-API-Key header or Authorization: "
    "Bearer header."
)
NOTHING_CONFIGURED: Final = (
    "Authentication is required. Set MCP_API_KEY on the memhub daemon and send it as "
    "Authorization: Bearer <key> or X-API-Key: <key>, or set MCP_ALLOW_ANONYMOUS_ACCESS=true "
    "to enable anonymous access."
)
KEY_IN_QUERY: Final = (
    "API keys are not accepted in the URL (they end up in logs and shell history): send the "
    "key as Authorization: Bearer <key> or X-API-Key: <key>."
)


@attrs.frozen
class Identity:
    """An authenticated caller and what it may do."""

    client_id: str
    scopes: frozenset[str]
    method: str  # "api_key" or "none" (anonymous), upstream's auth_method

    def may(self, op: str, store: str | None = "default") -> bool:
        """Upstream's ``has_store_scope``: the global ``op`` grants every store, ``op:<store>``
        exactly that one; ``store=None`` (``all``) needs the global scope."""
        if op in self.scopes:
            return True
        return store is not None and f"{op}:{store}" in self.scopes


@attrs.frozen
class Refusal:
    """An HTTP answer refusing the request."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = attrs.field(factory=dict)


def _unauthorized(error: str, description: str) -> Refusal:
    return Refusal(
        401,
        {"detail": {"error": error, "error_description": description}},
        {"WWW-Authenticate": "Bearer"},
    )


def insufficient_scope(op: str, store: str | None = "default") -> Refusal:
    """Upstream's 403 for an identity without the scope (401 is for no identity at all)."""
    if store is None:
        text = f"Access to store requires scope '{op}' (global, for cross-store access)"
    elif store == "default":
        text = f"Required scope '{op}' not granted"
    else:
        text = f"Access to store requires scope '{op}' or '{op}:{store}'"
    return Refusal(403, {"detail": {"error": "insufficient_scope", "error_description": text}})


class AuthPolicy:
    """The configured key and anonymous access, applied to one request's headers and query."""

    def __init__(self, api_key: str | None, *, allow_anonymous: bool, anonymous_scope: str) -> None:
        self._key = api_key.encode() if api_key else None
        self.allow_anonymous = allow_anonymous
        self._anonymous = Identity("anonymous", frozenset(anonymous_scope.split()), "none")

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def authenticate(
        self, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> Identity | Refusal:
        """The caller's identity, or the refusal to send. ``headers`` keys are lower case."""
        if any(name.lower() in QUERY_KEY_NAMES for name in query):
            return _unauthorized("invalid_request", KEY_IN_QUERY)
        scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            if self._matches(credentials):
                return Identity("api_key_client", API_KEY_SCOPES, "api_key")
            return _unauthorized("invalid_token", INVALID_TOKEN)
        if self._matches(headers.get("x-api-key", "")):
            return Identity("api_key_client", API_KEY_SCOPES, "api_key")
        if self.allow_anonymous:
            return self._anonymous
        if self._key is None:
            return _unauthorized("authorization_required", NOTHING_CONFIGURED)
        return _unauthorized("authorization_required", NEEDS_KEY)

    def _matches(self, offered: str) -> bool:
        offered = offered.strip()
        if self._key is None or not offered or len(offered) > MAX_API_KEY_CHARS:
            return False
        # Bytes, not str: compare_digest refuses non-ASCII str, and a key may be any text.
        return hmac.compare_digest(offered.encode(), self._key)
