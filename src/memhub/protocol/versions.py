"""Speaking older protocol versions: what a daemon sends a client of protocol 1.

The rule (docs/protocol.md, "Versions"): a daemon serves every protocol version from
:data:`OLDEST_PROTOCOL` to its own; a client says its version in ``hello`` and the daemon
answers in that version's shapes for the whole connection. Within a version, messages never
change shape. A new version may add, rename or restructure fields; for each message whose
shape changed, this module turns the current message into what the older version's client
decodes (its decoder is strict: it refuses fields it does not know).

Protocol 1 is memhub 0.1.0's. What changed in 2: ``welcome`` names the store, the engine and
the machine (``db_path`` was a file path); ``health_report`` moved the SQLite-shaped fields
(``sqlite_version``, ``wal_size_bytes``…) into ``store`` and the vector index into ``mirror``,
and the writer's ``checkpoints`` became ``upkeep_runs``; ``event`` carries ``origin`` and
``store``; every memory record carries its ``store``; requests gained optional ``store``
fields (a protocol-1 client never sends them).
"""

from __future__ import annotations

from typing import Any, Final

from memhub.protocol import messages as m

OLDEST_PROTOCOL: Final = 1


def downgrade(msg: m.ServerMsg, data: dict[str, Any], protocol: int) -> dict[str, Any]:
    """``data`` (the unstructured ``msg``) in the shape protocol ``protocol`` decodes."""
    if protocol >= 2:
        return data
    if isinstance(msg, m.Welcome):
        return _welcome_v1(msg, data)
    if isinstance(msg, m.HealthReport):
        return _health_v1(msg, data)
    if isinstance(msg, m.Event):
        data.pop("origin", None)
        data.pop("store", None)
    _records_v1(data)
    return data


def _records_v1(data: dict[str, Any]) -> None:
    """Memory records lost nothing but their ``store`` between the versions."""
    for key in ("memory",):
        if isinstance(data.get(key), dict):
            data[key].pop("store", None)
    for record in data.get("memories") or ():
        record.pop("store", None)
    for hit in data.get("hits") or ():
        if isinstance(hit.get("memory"), dict):
            hit["memory"].pop("store", None)


def _welcome_v1(msg: m.Welcome, data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in ("store", "engine", "machine")}
    out["db_path"] = msg.store
    return out


def _health_v1(msg: m.HealthReport, data: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v
        for k, v in data.items()
        if k not in ("store", "mirror", "machine", "writer", "readers")
    }
    store = msg.store
    out.update(
        db_path=store.location,
        schema=store.schema,
        sqlite_version=store.engine_version,
        sqlite_vec_version=store.extension_version,
        database_size_bytes=store.store_bytes,
        wal_size_bytes=store.log_bytes,
    )
    writer = dict(data["writer"])
    writer["checkpoints"] = writer.pop("upkeep_runs")
    out["writer"] = writer
    readers = dict(data["readers"])
    readers["vector_index"] = "ram" if msg.mirror is not None else "vec0"
    readers["indexed_vectors"] = msg.mirror.rows if msg.mirror is not None else 0
    out["readers"] = readers
    return out
