"""The one cattrs converter of the protocol: strict, tagged, JSON via orjson.

Structuring is strict: no type coercion (``"5"`` is not an int, ``"ab"`` is not a list), unknown
fields in requests are rejected, and every failure becomes :class:`~memhub.errors.BadRequest`
with a message that names the field. A client decodes the daemon's messages the same way but
ignores fields it does not know, so that a daemon may add fields to replies within a protocol
version (docs/protocol.md, "Versions"). Messages are tagged by a ``type`` field whose values
are listed in :data:`TAGS`; the Python class names can change without breaking the wire.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Final, TypeVar, get_args

import cattrs
import orjson
from cattrs.preconf.orjson import make_converter
from cattrs.strategies import configure_tagged_union
from cattrs.v import format_exception

from memhub import PROTOCOL_VERSION
from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.protocol.jsondepth import TooDeep, check_json_depth, outline
from memhub.protocol.limits import MAX_METADATA_DEPTH, nesting_depth
from memhub.protocol.versions import downgrade

T = TypeVar("T")
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1

TAGS: Final[dict[type, str]] = {
    m.Hello: "hello",
    m.Store: "store",
    m.StoreSession: "store_session",
    m.Search: "search",
    m.ListMemories: "list",
    m.Get: "get",
    m.Delete: "delete",
    m.Update: "update",
    m.CleanupDuplicates: "cleanup_duplicates",
    m.Health: "health",
    m.Subscribe: "subscribe",
    m.Unsubscribe: "unsubscribe",
    m.Shutdown: "shutdown",
    m.IssueTicket: "issue_ticket",
    m.CountTags: "count_tags",
    m.CountTypes: "count_types",
    m.CountDays: "count_days",
    m.ListClients: "list_clients",
    m.Welcome: "welcome",
    m.Stored: "stored",
    m.SessionStored: "session_stored",
    m.SearchResult: "search_result",
    m.Page: "page",
    m.Found: "found",
    m.Deleted: "deleted",
    m.Updated: "updated",
    m.CleanedUp: "cleaned_up",
    m.HealthReport: "health_report",
    m.Ticket: "ticket",
    m.TagCounts: "tag_counts",
    m.TypeCounts: "type_counts",
    m.DayCounts: "day_counts",
    m.Clients: "clients",
    m.Ok: "ok",
    m.Failed: "error",
    m.Event: "event",
    # mcp-memory-service 12.4's extra tools (memhub.protocol.extras)
    m.MistakeNoteAdd: "mistake_note_add",
    m.BumpSessionCounter: "bump_session_counter",
    m.ListConflicts: "list_conflicts",
    m.ResolveConflict: "resolve_conflict",
    m.VersionedUpdate: "versioned_update",
    m.GraphQuery: "graph_query",
    m.ExploreEntities: "explore_entities",
    m.EntityDetail: "entity_detail",
    m.QualityRate: "quality_rate",
    m.QualityAnalyze: "quality_analyze",
    m.QualityMaintain: "quality_maintain",
    m.ConsolidateRecommend: "consolidate_recommend",
    m.ConsolidateMerge: "consolidate_merge",
    m.ConsolidateRun: "consolidate_run",
    m.MistakeNoted: "mistake_noted",
    m.ConflictList: "conflict_list",
    m.Versioned: "versioned",
    m.ToolData: "tool_data",
}
CLIENT_TAGS: Final = frozenset(TAGS[t] for t in get_args(m.ClientMsg))
SERVER_TAGS: Final = frozenset(TAGS[t] for t in get_args(m.ServerMsg))


def _exact(tp: type[T]) -> Any:
    """A structure hook that accepts only values whose type is exactly ``tp``."""

    def hook(value: object, _: object) -> T:
        if type(value) is not tp:
            raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
        return value

    return hook


def _int(value: object, _: object) -> int:
    # orjson reads integers up to 2**64 - 1; SQLite (pages, limits, ids) stops at 2**63 - 1.
    if type(value) is not int:
        raise TypeError(f"expected int, got {type(value).__name__}")
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"{value} is outside the signed 64-bit range")
    return value


def _float(value: object, _: object) -> float:
    # JSON has one number type: an integral float arrives as int, so accept int (not bool).
    if type(value) is int:
        return float(value)
    if type(value) is not float or not math.isfinite(value):
        raise TypeError(f"expected a finite number, got {type(value).__name__}")
    return value


def _json_object(value: object, _: object) -> dict[str, Any]:
    if type(value) is not dict:
        raise TypeError(f"expected an object, got {type(value).__name__}")
    # Every free-form object (metadata above all) must fit in any reply that carries it.
    if nesting_depth(value) > MAX_METADATA_DEPTH:
        raise ValueError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
    return value


def _make_converter(*, forbid_extra_keys: bool = True) -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=forbid_extra_keys, detailed_validation=True)
    for tp in (str, bool):
        conv.register_structure_hook(tp, _exact(tp))
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(float, _float)
    conv.register_structure_hook_func(lambda tp: tp == dict[str, Any], _json_object)

    def strict_list(tp: Any) -> Any:
        (item_tp,) = get_args(tp) or (Any,)

        def hook(value: object, _: object) -> list[Any]:
            if type(value) is not list:
                raise TypeError(f"expected an array, got {type(value).__name__}")
            return [conv.structure(v, item_tp) for v in value]

        return hook

    conv.register_structure_hook_factory(
        lambda tp: getattr(tp, "__origin__", None) is list, strict_list
    )
    configure_tagged_union(m.ClientMsg, conv, tag_name="type", tag_generator=TAGS.__getitem__)
    configure_tagged_union(m.ServerMsg, conv, tag_name="type", tag_generator=TAGS.__getitem__)
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The daemon's converter: strict about the fields of requests, detailed errors."""
    return _make_converter()


@functools.cache
def client_converter() -> cattrs.Converter:
    """A client's converter: fields of the daemon's messages it does not know are ignored.

    Built only by the processes that need it (a bridge never builds the daemon's, and the other
    way round): generating a converter's hooks is most of a bridge's import time.
    """
    return _make_converter(forbid_extra_keys=False)


def _format_leaf(exc: BaseException, tp: type | None) -> str:
    # Our hooks raise ValueError with a message worth showing (a range, a nesting limit).
    if type(exc) is ValueError:
        return f"invalid value: {exc}"
    return format_exception(exc, tp)


def _describe(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc, format_exception=_format_leaf))
    return str(exc)


def _load_object(raw: str | bytes, known: frozenset[str]) -> dict[str, Any]:
    try:
        check_json_depth(raw)  # before any parser recurses into it
    except TooDeep as exc:
        # Metadata is the one free-form field that nests: name its own limit too.
        message = f"{exc}; metadata must not nest deeper than {MAX_METADATA_DEPTH} levels"
        raise BadRequest(message, request_id=_outlined_id(raw)) from None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadRequest("expected a JSON object")
    tag = obj.get("type")
    if not isinstance(tag, str) or tag not in known:  # a list or object tag is unhashable
        raise BadRequest(f"unknown message type {tag!r}", request_id=_peek_id(obj))
    return obj


def _peek_id(obj: dict[str, Any]) -> int | None:
    value = obj.get("id")
    return value if type(value) is int else None


def _outlined_id(raw: str | bytes) -> int | None:
    """The id of a frame too deep to parse, read from its outline when that is small enough."""
    shown = outline(raw)
    return peek_id(shown) if shown is not None else None


def peek_id(raw: str | bytes) -> int | None:
    """The integer ``id`` of a frame that is a JSON object, else None (an error reply to an
    undecodable frame can still name the request it answers)."""
    try:
        check_json_depth(raw)
        obj = orjson.loads(raw)
    except (TooDeep, orjson.JSONDecodeError):
        return None
    return _peek_id(obj) if isinstance(obj, dict) else None


def oversize(frame: str, limit: int) -> int | None:
    """The UTF-8 size of ``frame`` if it is over ``limit`` bytes, else None.

    ``len(frame) * 4`` bounds the UTF-8 size, so most frames are never encoded to measure.
    """
    if len(frame) * 4 <= limit:
        return None
    size = len(frame.encode())
    return size if size > limit else None


def decode_client(raw: str | bytes) -> m.ClientMsg:
    """Parse a client frame.

    Raises:
        BadRequest: the frame is not JSON, not an object, of an unknown type, or its fields are
            missing, unknown or of the wrong type. Its ``request_id`` holds the frame's id when
            it carried a readable one, so the error reply can echo it.
    """
    obj = _load_object(raw, CLIENT_TAGS)
    try:
        return converter().structure(obj, m.ClientMsg)  # type: ignore[arg-type]
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise BadRequest(_describe(exc), request_id=_peek_id(obj)) from None


def decode_server(raw: str | bytes) -> m.ServerMsg:
    """Parse a daemon frame (client side). Raises BadRequest like :func:`decode_client`."""
    obj = _load_object(raw, SERVER_TAGS)
    try:
        return client_converter().structure(obj, m.ServerMsg)  # type: ignore[arg-type]
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise BadRequest(_describe(exc)) from None


def encode(msg: m.ClientMsg | m.ServerMsg, protocol: int = PROTOCOL_VERSION) -> str:
    """Serialize any message to a JSON text frame (with its ``type`` tag), in the shape a peer
    of ``protocol`` decodes (see :mod:`memhub.protocol.versions`)."""
    if type(msg) in get_args(m.ClientMsg):
        # A client encodes its requests with its own converter: it never builds the daemon's.
        data = client_converter().unstructure(msg, unstructure_as=m.ClientMsg)
    else:
        data = converter().unstructure(msg, unstructure_as=m.ServerMsg)
        if protocol < PROTOCOL_VERSION:
            data = downgrade(msg, data, protocol)  # type: ignore[arg-type]
    return orjson.dumps(data).decode()
