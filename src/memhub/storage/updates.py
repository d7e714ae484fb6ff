"""What an update of one memory changes: the same rule for every engine.

mcp-memory-service's ``update_memory_metadata``: tags are replaced, the type is set, metadata is
merged; ``updated_at`` moves only when tags or type change (a metadata-only update keeps it), or
always with ``preserve_timestamps=False``; ``created_at`` never moves. Columns the update does not
change are not written back, so a row another program wrote keeps its stored values.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from memhub.domain.tags import read_back, tags_to_db
from memhub.domain.timestamps import iso_utc
from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.storage.model import Change, Facets


@attrs.frozen
class UpdatePlan:
    """The new record, the fields named in the reply, and the columns to write."""

    record: m.MemoryRecord
    fields: list[str]
    columns: dict[str, Any]

    def change(self, row: int, old: m.MemoryRecord, store: str) -> Change:
        return Change(
            kind="updated",
            content_hash=old.content_hash,
            row=row,
            memory=self.record,
            before=Facets.of(old, store),
            store=store,
        )


def plan_update(
    old: m.MemoryRecord,
    *,
    tags: list[str] | None,
    memory_type: str | None,
    metadata: dict[str, Any] | None,
    preserve_timestamps: bool,
    now: float,
    metadata_problem: str | None,
) -> UpdatePlan:
    """The update of ``old``.

    Raises:
        BadRequest: metadata should be merged into stored metadata that cannot be read
            (``metadata_problem`` says why).
    """
    fields: list[str] = []
    columns: dict[str, Any] = {}
    if tags is not None:
        fields.append("tags")
        columns["tags"] = tags_to_db(tags)
    if memory_type is not None:
        fields.append("memory_type")
        columns["memory_type"] = memory_type
    new_meta = dict(old.metadata)
    if metadata:
        if metadata_problem is not None:
            raise BadRequest(
                f"cannot merge metadata into memory {old.content_hash}: its stored metadata "
                f"cannot be read ({metadata_problem}); update its tags or type only"
            )
        new_meta.update(metadata)
        fields.append("metadata")
        columns["metadata"] = json.dumps(new_meta)
    updated_at = old.updated_at
    updated_iso = old.updated_at_iso
    if tags is not None or memory_type is not None or not preserve_timestamps:
        updated_at, updated_iso = now, iso_utc(now)
        fields.append("updated_at")
        columns["updated_at"], columns["updated_at_iso"] = updated_at, updated_iso
    record = attrs.evolve(
        old,
        tags=read_back(tags) if tags is not None else old.tags,
        memory_type=memory_type if memory_type is not None else old.memory_type,
        metadata=new_meta,
        updated_at=updated_at,
        updated_at_iso=updated_iso,
    )
    return UpdatePlan(record, fields, columns)
