"""``memory_harvest``: decisions, bugs, conventions and learnings mined from Claude Code
session transcripts (JSONL) with 12.4's heuristic patterns.

The bridge reads the transcripts (local only: the MCP tool is neither listed nor run over HTTP).
A dry run (the default) reports the candidates and writes nothing; a real run stores each one
through the daemon (exact and semantic duplicates refused there, counted as skipped), records
the harvested sessions in 12.4's tracker memory, and with ``auto_commit`` hands them to
``commit_session_legacy`` as 12.4 does.

The daemon's ``POST /api/harvest`` (:mod:`memhub.http.rest_harvest`) runs the same reading,
extraction, storing and result code over an in-process daemon; it reads strictly
(:class:`Refused` for a transcript too large or not JSONL, where the tool skips what it cannot
read).

Differences from 12.4, on purpose: ``use_llm`` is refused (memhub makes no LLM calls; 12.4
without a provider silently returns the heuristic result); a near-duplicate of an earlier
memory is refused by the daemon's semantic dedup instead of becoming a new version of it;
string ``message.content`` is read too (12.4 reads only text blocks); only Claude Code's format
is read (not Kiro or OpenClaw); auto_commit's decisions also carry ``what``/``why``, the keys
``commit_session_legacy`` reads (12.4 passes only ``decision``/``reason``, so its decision
observations come out empty).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from memhub.errors import BadRequest, Duplicate, TooLarge
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools import sessions
from memhub.mcp_bridge.v12_tools.texts import as_json
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

TYPES: Final = ("decision", "bug", "convention", "learning", "context")
GATE: Final = 0.75
"""12.4's internal confidence floor, applied before ``min_confidence``."""
MIN_TEXT: Final = 30
MAX_TEXT: Final = 10_000
MAX_CONTENT: Final = 500
PREVIEW: Final = 200
MAX_SESSION_BYTES: Final = 64 * 1024 * 1024
MAX_LINE_BYTES: Final = 4 * 1024 * 1024
MAX_SESSIONS: Final = 100
MAX_ID: Final = 200
TRACKER_TAG: Final = "harvest-tracker"
TRACKER_PREFIX: Final = "harvested_sessions:"
NO_LLM: Final = (
    "use_llm is not available: memhub makes no LLM calls. "
    "Call memory_harvest without use_llm for the heuristic candidates."
)

_I = re.IGNORECASE
PATTERNS: Final[dict[str, tuple[tuple[re.Pattern[str], float], ...]]] = {
    "decision": (
        (
            re.compile(
                r"\b(?:decided|chose|choosing|going with|opted for|selected)\b.*"
                r"\b(?:over|instead of|because|for)\b",
                _I,
            ),
            0.75,
        ),
        (re.compile(r"\b(?:decision|approach):\s", _I), 0.7),
        (re.compile(r"\bI (?:will|'ll) (?:use|go with|pick|choose)\b", _I), 0.65),
    ),
    "bug": (
        (re.compile(r"\b(?:root cause|bug was|issue was|problem was|error was)\b", _I), 0.75),
        (re.compile(r"\b(?:fixed by|fix was|resolved by|the fix)\b", _I), 0.7),
        (
            re.compile(
                r"\b(?:crash|regression|broke|breaking|broken)\b.*"
                r"\b(?:because|due to|caused by)\b",
                _I,
            ),
            0.7,
        ),
    ),
    "convention": (
        (re.compile(r"\b(?:convention|rule|pattern|standard):\s", _I), 0.8),
        (re.compile(r"\b(?:always|never)\s+(?:use|do|add|include|set|run|check)\b", _I), 0.65),
        (re.compile(r"\bmust (?:always|never)\b", _I), 0.7),
    ),
    "learning": (
        (
            re.compile(r"\b(?:learned|discovered|realized|found out|turns out|TIL)\b", _I),
            0.7,
        ),
        (re.compile(r"\b(?:insight|takeaway|lesson|key finding)\b", _I), 0.7),
        (re.compile(r"\b(?:didn't know|wasn't aware|surprised to find)\b", _I), 0.65),
    ),
    "context": (
        (re.compile(r"\b(?:current state|status|progress|where we left off)\b", _I), 0.6),
        (re.compile(r"\b(?:next steps?|todo|remaining work|blocked on)\b", _I), 0.6),
    ),
}
CODE_BLOCK = re.compile(r"```[\s\S]*?```")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
META_TERMS: Final = (
    "harvest",
    "extractor",
    "bootstrap",
    "pipeline",
    "rewriter",
    "classifier",
    "pattern extractor",
)
NOISE: Final = ("<system-reminder>", "</system-reminder>", "<command-name>", "<command-message>")


class Refused(BadRequest):
    """A transcript that a strict read will not harvest (too large, not JSONL, not a file)."""


@attrs.frozen
class Message:
    role: str
    text: str


@attrs.frozen
class Candidate:
    memory_type: str
    content: str
    confidence: float


@attrs.frozen
class Session:
    session_id: str
    total_messages: int
    """The messages read (only the candidates are kept: a long transcript is not held)."""
    candidates: list[Candidate]


# -- transcripts -----------------------------------------------------------------------------


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        item["text"]
        for item in content
        if isinstance(item, dict)
        and item.get("type") == "text"
        and isinstance(item.get("text"), str)
    ]


def parse_transcript(path: Path) -> list[Message]:
    """The user and assistant texts of a Claude Code JSONL transcript (a regular file inside
    the session directory; corrupt and oversized lines are skipped, an unreadable file or what
    lies past :data:`MAX_SESSION_BYTES` is read as no messages)."""
    try:
        return read_transcript(path, strict=False)
    except Refused:
        return []


def read_transcript(path: Path, *, strict: bool) -> list[Message]:
    """:func:`parse_transcript`; with ``strict``, a file that is not a regular file, is larger
    than :data:`MAX_SESSION_BYTES`, or has lines but no JSON object among them is
    :class:`Refused` instead (12.4 reads such a file as a session without messages)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    name = path.name
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Refused(f"session {name} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"session {name} is not a regular file")
        if strict and info.st_size > MAX_SESSION_BYTES:
            raise Refused(
                f"session {name} is {info.st_size} bytes, over the limit of "
                f"{MAX_SESSION_BYTES} bytes for one transcript"
            )
        messages: list[Message] = []
        read = lines = objects = 0
        while read <= MAX_SESSION_BYTES:
            raw = f.readline(MAX_LINE_BYTES + 1)
            read += len(raw)
            if not raw:
                break
            if len(raw) > MAX_LINE_BYTES:  # skip the rest of an oversized line unread
                lines += 1
                while raw and not raw.endswith(b"\n") and read <= MAX_SESSION_BYTES:
                    raw = f.readline(MAX_LINE_BYTES + 1)
                    read += len(raw)
                continue
            if not raw.strip():
                continue
            lines += 1
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            objects += 1
            if obj.get("type") not in ("user", "assistant"):
                continue
            message = obj.get("message")
            if not isinstance(message, dict):
                continue
            for text in _texts(message.get("content")):
                text = text.strip()
                if not text or len(text) > MAX_TEXT or text.startswith("<ide_opened_file>"):
                    continue
                if any(marker in text for marker in NOISE):
                    continue
                messages.append(Message(obj["type"], text))
    if strict and lines and not objects:
        raise Refused(f"session {name} is not a JSONL transcript: no line is a JSON object")
    return messages


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text.strip()) if s.strip()]


def _context(text: str, match: re.Match[str]) -> str:
    """The sentence holding the match and one on each side, as 12.4 joins them."""
    sentences = _sentences(text)
    if not sentences:
        return text[:MAX_CONTENT]
    at, pos = 0, 0
    for i, sentence in enumerate(sentences):
        start = text.find(sentence, pos)
        if start == -1:
            start = pos
        end = start + len(sentence)
        if start <= match.start() < end:
            at = i
            break
        pos = end
    joined = ". ".join(sentences[max(0, at - 1) : at + 2])
    if not joined.endswith("."):
        joined += "."
    return joined[:MAX_CONTENT].strip()


def _matches(kind: str, text: str) -> bool:
    return any(p.search(text) for p, _ in PATTERNS[kind])


def extract(message: Message, *, meta_filter: bool = True) -> list[Candidate]:
    """12.4's heuristic candidates of one message (at most one per type, confidence ≥ 0.75)."""
    text = message.text.strip()
    clean = CODE_BLOCK.sub("", text).strip()
    if len(text) < MIN_TEXT or len(clean) < MIN_TEXT:
        return []
    convention = _matches("convention", clean)
    if message.role == "user" and not convention:
        return []
    lowered = clean.lower()
    if meta_filter and sum(t in lowered for t in META_TERMS) >= 2 and not convention:
        return []
    found: list[Candidate] = []
    for kind, patterns in PATTERNS.items():
        hits = [(conf, hit) for p, conf in patterns if (hit := p.search(clean))]
        if not hits:
            continue
        best_conf, best = max(hits, key=lambda h: h[0])
        confidence = min(best_conf + 0.05 * (len(hits) - 1), 1.0)
        if confidence < GATE:
            continue
        found.append(Candidate(kind, _context(clean, best), confidence))
    return found


def session_directory(project_path: str | None) -> Path:
    if project_path:
        return Path(project_path).expanduser().resolve()
    configured = os.environ.get("MCP_HARVEST_SESSION_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".claude" / "projects" / str(Path.cwd()).replace(os.sep, "-")


def session_files(directory: Path, ids: list[str] | None, count: int) -> list[Path]:
    """The transcripts to read: the named ones, or the ``count`` newest. Only regular files
    directly in ``directory`` (a symlink or id leading out of it is ignored)."""
    root = directory.resolve()
    if ids is not None:
        candidates = [root / f"{i}.jsonl" for i in ids]
    else:
        candidates = list(root.glob("*.jsonl"))
    kept: list[tuple[float, Path]] = []
    for path in candidates:
        name = path.name
        if any(mark in name for mark in (".checkpoint.", ".reset.", ".deleted.")):
            continue
        real = path.resolve()
        if real.parent != root and not real.is_relative_to(root):
            continue
        try:
            info = real.stat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and path.parent == root:
            kept.append((info.st_mtime, path))
    if ids is None:
        kept.sort(key=lambda k: k[0], reverse=True)
        kept = kept[:count]
    return [p for _, p in kept]


def session_id_problem(session_id: str) -> str | None:
    """Why ``session_id`` names no transcript file of a directory (None: it may)."""
    if not session_id or session_id in (".", ".."):
        return "empty or a directory name"
    if len(session_id) > MAX_ID:
        return f"longer than {MAX_ID} characters"
    if any(ch in session_id for ch in "/\\\0") or not session_id.isprintable():
        return "a path separator or a control character"
    return None


def strict_session_files(directory: Path, ids: list[str] | None, count: int) -> list[Path]:
    """:func:`session_files`, for a caller that is not the transcripts' owner: an odd session
    id, or a named transcript that is a link out of ``directory``, is :class:`Refused`
    (:func:`session_files` ignores them). A named transcript that does not exist is left out,
    as 12.4 does."""
    root = directory.resolve()
    for sid in ids or ():
        if (problem := session_id_problem(sid)) is not None:
            raise Refused(f"invalid session id {sid!r}: {problem}")
        path = root / f"{sid}.jsonl"
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            raise Refused(f"session {sid} is a link out of the project directory")
    return session_files(directory, ids, count)


def harvest_files(
    paths: list[Path], types: set[str], min_confidence: float, *, strict: bool = False
) -> list[Session]:
    """Each transcript's messages and candidates (blocking file reads: run it in a thread).

    With ``strict`` every transcript is read before any result is returned, so a
    :class:`Refused` one leaves nothing harvested."""
    result = []
    for path in paths:
        messages = read_transcript(path, strict=strict) if strict else parse_transcript(path)
        candidates = [
            c
            for msg in messages
            for c in extract(msg)
            if c.confidence >= min_confidence and c.memory_type in types
        ]
        result.append(Session(path.stem, len(messages), candidates))
    return result


async def store_candidates(daemon: Daemon, session: Session) -> tuple[int, int]:
    """Store each candidate of ``session`` through the daemon with 12.4's tags and metadata:
    (stored, skipped). A candidate the daemon refuses (a duplicate, too large) is skipped; any
    other failure (overloaded, stopping) is raised, the candidates before it stored."""
    stored = skipped = 0
    for c in session.candidates:
        delivery = await daemon.call(
            m.Store(
                id=0,
                content=c.content,
                tags=["session-harvest", "harvest:method:heuristic", f"harvest:{c.memory_type}"],
                memory_type=c.memory_type,
                metadata={
                    "confidence": round(c.confidence, 2),
                    "source": "harvest",
                    "harvest_method": "heuristic",
                    "harvest_model": None,
                    "harvest_pipeline_version": 3,
                    "harvest_session_id": session.session_id,
                },
            )
        )
        if delivery.error is None:
            stored += 1
        elif isinstance(delivery.error, Duplicate | BadRequest | TooLarge):
            skipped += 1
        else:
            raise delivery.error
    return stored, skipped


def session_result(session: Session, stored: int) -> dict[str, Any]:
    """One session's entry of 12.4's ``results`` (the tool's and the REST route's)."""
    by_type: dict[str, int] = {}
    for c in session.candidates:
        by_type[c.memory_type] = by_type.get(c.memory_type, 0) + 1
    return {
        "session_id": session.session_id,
        "total_messages": session.total_messages,
        "found": len(session.candidates),
        "stored": stored,
        "by_type": by_type,
        "candidates": [
            {
                "type": c.memory_type,
                "content": c.content[:PREVIEW],
                "confidence": round(c.confidence, 2),
                "tags": [f"harvest:{c.memory_type}"],
            }
            for c in session.candidates
        ],
        "coverage": {},  # 12.4 records no coverage counters for Claude Code transcripts
    }


# -- the tool --------------------------------------------------------------------------------


def _compact(value: dict[str, Any]) -> ToolResult:
    return ToolResult(json.dumps(value))


async def _tracked(daemon: Daemon) -> tuple[set[str], list[str]]:
    """The session ids of 12.4's tracker memory, and the hashes of the tracker memories."""
    page = expect(
        (
            await daemon.call(m.ListMemories(id=0, page=1, page_size=20, tags=[TRACKER_TAG]))
        ).unwrap(),
        m.Page,
    )
    trackers = [r for r in page.memories if r.content.startswith(TRACKER_PREFIX)]
    if not trackers:
        return set(), []
    newest = max(trackers, key=lambda r: r.created_at)
    ids = {i for i in newest.content[len(TRACKER_PREFIX) :].split(",") if i}
    return ids, [r.content_hash for r in trackers]


async def _commit(daemon: Daemon, session: Session, agent_id: str) -> dict[str, Any]:
    cands = session.candidates
    context = [c for c in cands if c.memory_type == "context"]
    args = {
        "session_id": session.session_id,
        "agent_id": agent_id,
        "task_summary": context[0].content[:200] if context else "Harvested session",
        "outcome": "success",
        "decisions": [
            {
                "decision": c.content[:500],
                "reason": "harvested",
                "what": c.content[:500],
                "why": "harvested",
            }
            for c in cands
            if c.memory_type == "decision"
        ],
        "errors": [
            {"error": c.content[:500], "count": 1, "severity": "medium"}
            for c in cands
            if c.memory_type == "bug"
        ],
        "belief_updates": [
            {"belief": c.content[:500], "new_confidence": round(c.confidence, 2)}
            for c in cands
            if c.memory_type in ("convention", "learning")
        ],
    }
    try:
        done = await sessions.commit(daemon, args)
        return {
            "session_id": session.session_id,
            "committed": True,
            "result": json.loads(done.text),
        }
    except Exception as exc:
        return {"session_id": session.session_id, "committed": False, "error": str(exc)}


async def harvest(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    if a.as_bool(args.get("use_llm"), "use_llm", False):
        return _compact({"error": NO_LLM})
    count = min(max(a.as_int(args.get("sessions"), "sessions", 1), 0), MAX_SESSIONS)
    raw_ids = args.get("session_ids")
    ids = [str(i) for i in raw_ids] if isinstance(raw_ids, list) and raw_ids else None
    wanted = args.get("types")
    types = {str(t) for t in wanted} if isinstance(wanted, list) and wanted else set(TYPES)
    min_confidence = a.as_float(args.get("min_confidence"), "min_confidence", 0.6)
    dry_run = a.as_bool(args.get("dry_run"), "dry_run", True)
    force = a.as_bool(args.get("force_reharvest"), "force_reharvest", False)
    directory = session_directory(a.as_str(args.get("project_path"), "project_path"))
    if not await trio.to_thread.run_sync(directory.is_dir):
        return _compact({"error": f"Project directory not found: {directory}"})
    tracked: set[str] = set()
    trackers: list[str] = []
    if not dry_run:
        tracked, trackers = await _tracked(daemon)
        if tracked and ids is None and not force:
            every = await trio.to_thread.run_sync(session_files, directory, None, 1 << 30)
            remaining = [p.stem for p in every if p.stem not in tracked]
            if not remaining:
                return _compact(
                    {
                        "dry_run": False,
                        "results": [],
                        "note": f"All {len(every)} sessions already harvested",
                    }
                )
            ids = remaining[:count]
    paths = await trio.to_thread.run_sync(session_files, directory, ids, count)
    found = await trio.to_thread.run_sync(harvest_files, paths, types, min_confidence)
    results = []
    for session in found:
        stored = 0
        if not dry_run:
            stored, _ = await store_candidates(daemon, session)
        results.append(session_result(session, stored))
    if not dry_run and found:
        every_id = sorted(tracked | {s.session_id for s in found})
        for old in trackers:
            await daemon.call(m.Delete(id=0, content_hash=old))
        await daemon.call(
            m.Store(
                id=0,
                content=TRACKER_PREFIX + ",".join(every_id),
                tags=[TRACKER_TAG],
                memory_type="observation",
                metadata={"count": len(every_id)},
            )
        )
    output: dict[str, Any] = {"dry_run": dry_run, "results": results}
    if a.as_bool(args.get("auto_commit"), "auto_commit", False) and not dry_run and found:
        agent = a.as_str(args.get("agent_id"), "agent_id") or os.environ.get("MCP_AGENT_ID")
        output["auto_commit_results"] = [
            await _commit(daemon, s, agent or "unknown") for s in found if s.candidates
        ]
    return ToolResult(as_json(output))
