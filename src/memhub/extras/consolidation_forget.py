"""The end of 12.4's forgetting phase in the daemon: decide, write the archive files, apply.

Files first (in a worker thread), then the database, in chunks through the writer: a kill in
between leaves a file too many, never a memory deleted without its copy. A file that cannot be
written skips its memory (12.4's ``skipped`` result), noted in the report's errors.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from memhub.consolidation import forgetting
from memhub.consolidation.archive import Archive
from memhub.consolidation.decay import Relevance
from memhub.errors import BadRequest
from memhub.extras import consolidation_writes as writes
from memhub.protocol import messages as m
from memhub.storage.model import Candidate

if TYPE_CHECKING:
    from memhub.service import MemoryService


async def apply(
    svc: MemoryService, client: str, req: m.ConsolidateRun, pool: list[Candidate],
    scores: dict[str, Relevance], metadata: dict[str, dict[str, Any]], now: float,
    errors: list[str],
) -> int:  # fmt: skip
    """Forget what 12.4 would among ``pool``; 12.4's ``memories_archived`` (archived and
    deleted). ``metadata``: each memory's metadata as the run left it (the archived copy)."""
    s = req.settings
    decisions = await trio.to_thread.run_sync(forgetting.decide, pool, scores, s, req.horizon, now)
    filed = await trio.to_thread.run_sync(_files, Path(s.archive_path), decisions, metadata)
    errors += filed.problems
    stamp = {"last_consolidated_at": datetime.now().timestamp()}
    await writes.merge_metadata(svc, client, {c.record.content_hash: stamp for c in pool})
    gone = [d.candidate.record.content_hash for d in filed.done if d.action == "deleted"]
    await writes.delete_all(svc, client, gone)
    errors += await writes.store_all(svc, client, filed.replaced)
    return sum(1 for d in filed.done if d.action in ("archived", "deleted"))


def archive_at(root: Path) -> Archive:
    """The archive (its directories made, as 12.4 makes them before any run)."""
    try:
        return Archive(root)
    except OSError as exc:
        raise BadRequest(f"the archive directory {root} cannot be used: {exc}") from None


@attrs.define
class Filed:
    """What the archive step did: the compressed replacements to store, the decisions whose
    file was written (only those are applied), and the files that could not be written."""

    replaced: list[writes.Planned] = attrs.field(factory=list)
    done: list[forgetting.Decision] = attrs.field(factory=list)
    problems: list[str] = attrs.field(factory=list)


def _files(
    root: Path, decisions: list[forgetting.Decision], metadata: dict[str, dict[str, Any]]
) -> Filed:
    """Write 12.4's archive files; the compressed replacements."""
    archive = archive_at(root)
    at = datetime.now().isoformat()
    filed = Filed()
    for n, d in enumerate(decisions):
        if n % 25 == 0:
            time.sleep(0)  # let the daemon's other threads have the GIL now and then
        record = d.candidate.record
        meta = metadata[record.content_hash]
        try:
            if d.action == "archived":
                archive.keep(d, meta)
            elif d.action == "deleted":
                archive.deleted(d, meta)
            else:
                archive.original(d, meta)
        except OSError as exc:
            filed.problems.append(f"{record.content_hash[:12]}: {exc}")
            continue
        filed.done.append(d)
        if d.action == "compressed":
            read = attrs.evolve(record, metadata=meta)
            content, new_hash, tags, new_meta = forgetting.compressed_version(
                attrs.evolve(d, candidate=attrs.evolve(d.candidate, record=read)), at
            )
            filed.replaced.append(writes.Planned(
                content=content, content_hash=new_hash, tags=tags, memory_type="pattern",
                metadata=new_meta, vector=d.candidate.vector, replaces=record.content_hash,
            ))  # fmt: skip
    return filed
