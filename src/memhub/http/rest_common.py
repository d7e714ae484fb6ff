"""What the REST routes share: who is asking, which store, one service call, one memory's JSON.

The routes reach the daemon through :func:`ask`, i.e. :meth:`MemoryService.handle`, the path
the websocket clients take; harvest through :class:`~memhub.http.local.LocalDaemon` (the same
requests), and quality evaluate, distribution and trends through :mod:`memhub.extras.quality`'s
functions, which have no request of their own. Either way writes queue for the writer actor
and are answered after their commit, and each write is named ``rest-api`` in the change feed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

import attrs
from fastapi import Depends, HTTPException, Request

from memhub.credentials import Caller
from memhub.domain.stores import ALL_STORES, DEFAULT_STORE, store_name_problem
from memhub.errors import DatabaseBusy, Overloaded, ShuttingDown, Unavailable
from memhub.http.auth import AuthPolicy, Identity, Refusal, insufficient_scope
from memhub.service import MemoryService

if TYPE_CHECKING:
    from memhub.protocol import messages as m

REST_CLIENT: Final = "rest-api"
SERVED_STORE: Final = DEFAULT_STORE
BUSY: Final = (Overloaded, ShuttingDown, Unavailable, DatabaseBusy)


@attrs.frozen
class RestContext:
    """What the routes need, kept in ``app.state.memhub``."""

    service: MemoryService
    auth: AuthPolicy


def context(request: Request) -> RestContext:
    ctx: RestContext = request.app.state.memhub
    return ctx


def refuse(refusal: Refusal) -> HTTPException:
    return HTTPException(refusal.status, detail=refusal.body["detail"], headers=refusal.headers)


def current_identity(request: Request) -> Identity:
    """FastAPI dependency: the authenticated caller, or the 401 to answer."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    outcome = context(request).auth.authenticate(headers, request.query_params)
    if isinstance(outcome, Refusal):
        raise refuse(outcome)
    return outcome


Authenticated = Annotated[Identity, Depends(current_identity)]
"""A route parameter of this type is the authenticated caller (401 before the route runs)."""


def no_key_in_query(request: Request) -> None:
    """FastAPI dependency of the open routes: a key in the URL is refused there too."""
    outcome = context(request).auth.authenticate({}, request.query_params)
    if isinstance(outcome, Refusal) and outcome.body["detail"]["error"] == "invalid_request":
        raise refuse(outcome)


def resolve_store(store: str) -> str | None:
    """Upstream's ``resolve_store``: ``all`` means every store (None)."""
    return None if store == ALL_STORES else store


def require(identity: Identity, op: str, store: str | None = SERVED_STORE) -> None:
    """Upstream's ``require_store_scope`` (403), then the store name itself (400).

    Upstream takes any string as a store; memhub refuses names no read could name back (empty,
    over 64 characters, control characters), as its MCP tools do.
    """
    if not identity.may(op, store):
        raise refuse(insufficient_scope(op, store))
    if store is not None and (problem := store_name_problem(store)) is not None:
        raise HTTPException(400, detail=f"invalid store {store!r}: {problem}")


def in_store(record: m.MemoryRecord, store: str) -> bool:
    """Whether ``record`` is visible to a request naming ``store`` (``all``: any)."""
    return store == ALL_STORES or record.store == store


async def ask(request: Request, message: m.Request) -> m.Reply:
    """One service call as the REST caller; a daemon too busy or stopping is a 503."""
    service = context(request).service
    caller = Caller(name=REST_CLIENT, kind="token")
    service.connection_opened(caller)
    try:
        return await service.handle(message, caller)
    except BUSY as exc:
        raise HTTPException(503, detail=exc.message) from None
    finally:
        service.connection_closed(caller)


def memory_json(record: m.MemoryRecord) -> dict[str, Any]:
    """Upstream's ``MemoryResponse``: exactly these nine keys, in this order."""
    return {
        "content": record.content,
        "content_hash": record.content_hash,
        "tags": record.tags,
        "memory_type": record.memory_type,
        "metadata": record.metadata,
        "created_at": record.created_at,
        "created_at_iso": record.created_at_iso,
        "updated_at": record.updated_at,
        "updated_at_iso": record.updated_at_iso,
    }
