"""12.4's forgetting archive on disk: its directories, file names and JSON.

``<dir>/daily/`` (priority 1) and ``<dir>/compressed/`` (priority 2) hold
``<YYYYmmdd_HHMMSS>_<hash12>.json`` for archived memories; ``compressed/original_…`` the
originals of compressed ones; ``metadata/deleted_…`` a copy of each deleted one, and
``metadata/forgetting_log.jsonl`` a line per archive and compression (12.4 logs no deletion).
Differences from 12.4, on purpose: directories are 0700 and files 0600 (memories are
private); each file is written to a temporary name and renamed, so a killed daemon never leaves
half a JSON document (not synced to disk: like 12.4's, a power cut may lose the newest files);
a hash that is not a plain token (another program wrote it) is reduced to safe characters
before it names a file.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from memhub.consolidation.decay import Relevance
from memhub.consolidation.forgetting import Decision
from memhub.protocol import messages as m

SUBDIRS: Final = ("daily", "compressed", "metadata")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")


def to_dict(record: m.MemoryRecord, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """12.4's ``Memory.to_dict()`` of a memory (``metadata``: its metadata as updated)."""
    return {
        "content": record.content,
        "content_hash": record.content_hash,
        "tags_str": ",".join(record.tags),
        "type": record.memory_type,
        "timestamp": float(record.created_at),
        "timestamp_float": record.created_at,
        "timestamp_str": record.created_at_iso,
        "created_at": record.created_at,
        "created_at_iso": record.created_at_iso,
        "updated_at": record.updated_at,
        "updated_at_iso": record.updated_at_iso,
        **(record.metadata if metadata is None else metadata),
        "tags": record.tags,
    }


def score_dict(score: Relevance) -> dict[str, Any]:
    return {
        "total_score": score.total_score,
        "base_importance": score.base_importance,
        "decay_factor": score.decay_factor,
        "connection_boost": score.connection_boost,
        "access_boost": score.access_boost,
        "metadata": score.metadata,
    }


class Archive:
    """One archive directory, created (with its three subdirectories) on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()
        for path in (self.root, *(self.root / d for d in SUBDIRS)):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    @staticmethod
    def stamp() -> str:
        return datetime.now().strftime("%Y%m%d_%H%M%S")

    @staticmethod
    def short(content_hash: str) -> str:
        return _UNSAFE.sub("_", content_hash[:12]) or "_"

    def write_json(self, path: Path, data: dict[str, Any]) -> Path:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)  # whole or absent after a kill (no fsync: 12.4 has none)
        return path

    def log(self, record: m.MemoryRecord, path: Path, action: str) -> None:
        entry = {
            "memory_hash": record.content_hash,
            "action": action,
            "archive_path": str(path),
            "timestamp": datetime.now().isoformat(),
            "memory_type": record.memory_type,
            "tags": record.tags,
            "content_length": len(record.content),
        }
        line = (json.dumps(entry, default=str) + "\n").encode()
        # One write of one line with O_APPEND: lines from concurrent writers never interleave.
        fd = os.open(self.root / "metadata" / "forgetting_log.jsonl",
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # fmt: skip
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def keep(self, decision: Decision, metadata: dict[str, Any]) -> Path:
        """The file of a memory 12.4 archives, then its log line (the memory stays)."""
        record = decision.candidate.record
        folder = "daily" if decision.priority == 1 else "compressed"
        path = self.root / folder / f"{self.stamp()}_{self.short(record.content_hash)}.json"
        data = {
            "memory": to_dict(record, metadata),
            "relevance_score": score_dict(decision.score),
            "forgetting_metadata": {
                "reasons": decision.reasons,
                "archive_priority": decision.priority,
                "archive_date": datetime.now().isoformat(),
                "original_hash": record.content_hash,
            },
        }
        self.write_json(path, data)
        self.log(record, path, "archived")
        return path

    def original(self, decision: Decision, metadata: dict[str, Any]) -> Path:
        """The original of a memory 12.4 compresses, then its log line."""
        record = decision.candidate.record
        name = f"original_{self.stamp()}_{self.short(record.content_hash)}.json"
        path = self.write_json(self.root / "compressed" / name, to_dict(record, metadata))
        self.log(record, path, "compressed")
        return path

    def deleted(self, decision: Decision, metadata: dict[str, Any]) -> Path:
        """The copy of a memory 12.4 deletes (not logged, as in 12.4)."""
        record = decision.candidate.record
        name = f"deleted_{self.stamp()}_{self.short(record.content_hash)}.json"
        data = {
            "memory": to_dict(record, metadata),
            "deletion_metadata": {
                "reasons": decision.reasons,
                "deletion_date": datetime.now().isoformat(),
                "relevance_score": decision.score.total_score,
            },
        }
        return self.write_json(self.root / "metadata" / name, data)
