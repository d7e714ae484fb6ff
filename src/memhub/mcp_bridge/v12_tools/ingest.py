"""``memory_ingest``: a file or a directory of documents, chunked and stored as 12.4 does.

The bridge reads the files (it runs as the user, on the user's machine); each chunk is an
ordinary ``Store`` through the daemon, acked after commit, so exact and semantic duplicates are
refused there and reported as 12.4 reports them (``Chunk <i>: <error>``), never fatal.

Paths are hostile input. A named file is resolved and must be a regular file (not a device,
FIFO or directory); in a directory only regular files whose real path stays inside it are read
(a symlink out of it is skipped and reported, symlinked subdirectories are not entered). Sizes,
file counts and chunk counts are capped; binary and unreadable files are clear errors.

At 12.4's defaults (1000/200) text and JSON files give 12.4's chunks character for character
(checked against 12.4.0's loaders), so a document ingested by both has the same hashes.

Differences from 12.4, on purpose:

* ``chunk_size``/``chunk_overlap`` take effect (12.4's loaders build their chunker before the
  handler sets them, so it always chunks at 1000/200);
* ``memory_type`` is honoured in directory mode too (12.4 always writes ``document`` there);
* a chunk shorter than 12.4's minimum of 100 characters is kept (12.4 drops it, so a short
  document stores nothing and the end of a text can be lost);
* a paragraph longer than ``chunk_size`` is cut (12.4 stores it whole), and no extra chunk
  repeats the end of a JSON text (12.4's window loop adds one);
* markdown splits at headings only (12.4 also splits at numbered-list lines);
* files are taken in sorted order (12.4: per extension, in the file system's order);
* PDF text comes from ``pypdf`` (a dependency of memhub, as of 12.4: pure Python, no build).
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge import v12_arguments as v12
from memhub.mcp_bridge.calls import ToolResult
from memhub.mcp_bridge.progress import Progress
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_FILES: Final = 1000
"""The most files one call reads, whatever ``max_files`` asks."""
MAX_TOTAL_BYTES: Final = 200 * 1024 * 1024
"""The most bytes one directory call reads; later files are reported, not read."""
MAX_CHUNKS: Final = 5000
"""The most chunks one call stores; the rest are reported, not stored."""
SUPPORTED: Final = ("pdf", "docx", "doc", "pptx", "xlsx", "txt", "md", "json", "csv")
TEXT_EXTENSIONS: Final = frozenset({"txt", "md", "markdown", "rst", "text"})
READABLE: Final = TEXT_EXTENSIONS | {"json", "pdf"}
DEFAULT_EXTENSIONS: Final = ("pdf", "txt", "md", "json")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"[.!?]+\s+")
LOADERS: Final = {"md": "TextLoader", "json": "JSONLoader", "pdf": "PDFLoader"}


class IngestError(Exception):
    """A file that cannot be ingested; the message says why."""


@attrs.frozen
class Chunk:
    text: str
    metadata: dict[str, Any]


@attrs.frozen
class Options:
    tags: list[str]
    chunk_size: int
    chunk_overlap: int
    memory_type: str
    store: str


# -- reading ---------------------------------------------------------------------------------


def read_regular(path: Path, *, limit: int = MAX_FILE_BYTES) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    The check is made on the opened descriptor (no race with a swapped path), and the open
    never blocks (a FIFO is refused, not waited on)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IngestError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IngestError(f"not a regular file: {path}")
        if info.st_size > limit:
            raise IngestError(
                f"file too large: {path} is {info.st_size} bytes (the limit is {limit})"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise IngestError(f"file too large: {path} grew past {limit} bytes while read")
    return data, info


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """The text of a text file and its encoding; binary content is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:8192]:
        raise IngestError(f"binary file (contains NUL bytes), not text: {path}")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), "utf-8"  # as 12.4 falls back


def base_metadata(path: Path, info: os.stat_result, loader: str) -> dict[str, Any]:
    return {
        "source_file": str(path),
        "file_name": path.name,
        "file_extension": path.suffix.lower(),
        "file_size": info.st_size,
        "modified_time": datetime.fromtimestamp(info.st_mtime).isoformat(),
        "loader_type": loader,
    }


# -- chunking --------------------------------------------------------------------------------


def _overlap_tail(text: str, overlap: int) -> str:
    """12.4's overlap: the last ``overlap`` characters; if a sentence ends in them, what follows
    the first sentence end, its sentences joined by spaces (12.4 drops their punctuation)."""
    if overlap <= 0:
        return ""
    if len(text) <= overlap:
        return text + " "
    tail = text[-overlap:]
    parts = SENTENCE_END.split(tail)
    if len(parts) > 1:
        tail = " ".join(parts[1:])
    return tail + " " if tail else ""


def character_chunks(text: str, size: int, overlap: int, *, at_words: bool = False) -> list[str]:
    """12.4's character chunking: windows of ``size`` characters, each ending before the last
    whitespace of its final tenth if there is one, the next starting ``overlap`` earlier
    (``at_words``: at the next word). Unlike 12.4, no extra chunk repeats the text's end."""
    if len(text) <= size:
        return [text.strip()] if text.strip() else []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = start + size
        if end < len(text):
            for i in range(end, max(start + 10, end - size // 10), -1):
                if text[i].isspace():
                    end = i
                    break
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        start = max(start + 1, end - overlap)
        if at_words and not text[start - 1].isspace():
            space = text.find(" ", start, end)
            start = space + 1 if space != -1 else start
    return chunks


def paragraph_chunks(paragraphs: list[str], size: int, overlap: int) -> list[str]:
    """Paragraphs packed into chunks of about ``size`` characters (12.4's paragraph-aware
    chunking: a chunk is full when the next paragraph would pass ``size``, and the next one
    starts with the overlap, so it can reach ``size + overlap``); a paragraph longer than
    ``size`` is cut by characters."""
    chunks: list[str] = []
    current = ""
    for para in (p.strip() for p in paragraphs):
        if not para:
            continue
        if len(para) > size:  # 12.4 keeps it whole, however long
            if current:
                chunks.append(current.strip())
                current = ""
            chunks.extend(character_chunks(para, size, overlap, at_words=True))
            continue
        if current and len(current) + len(para) + 2 > size:
            chunks.append(current.strip())
            current = _overlap_tail(current, overlap) + para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current.strip():
        chunks.append(current.strip())
    return chunks


def markdown_paragraphs(text: str) -> list[str]:
    """Paragraphs, with every heading starting one (a section stays whole if it fits)."""
    parts: list[str] = []
    for block in PARAGRAPH_BREAK.split(text):
        lines: list[str] = []
        for line in block.split("\n"):
            if HEADING.match(line) and lines:
                parts.append("\n".join(lines))
                lines = []
            lines.append(line)
        parts.append("\n".join(lines))
    # A heading belongs to the paragraph under it.
    merged: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if merged and HEADING.fullmatch(merged[-1]) and not HEADING.match(part):
            merged[-1] = f"{merged[-1]}\n\n{part}"
        else:
            merged.append(part)
    return merged


def flatten_json(value: Any, prefix: str = "") -> list[str]:
    """12.4's flattening: one ``path: value`` line per scalar, Python spellings."""
    if isinstance(value, dict):
        if not value and prefix:
            return [f"{prefix}: {{}}"]
        return [
            line
            for key, item in value.items()
            for line in flatten_json(item, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(value, list):
        if not value and prefix:
            return [f"{prefix}: []"]
        return [
            line for i, item in enumerate(value) for line in flatten_json(item, f"{prefix}[{i}]")
        ]
    return [f"{prefix or 'value'}: {value}"]


def count_keys(value: Any) -> int:
    """The keys of every object in ``value`` (12.4's ``original_keys_count``)."""
    if isinstance(value, dict):
        return len(value) + sum(count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_keys(v) for v in value)
    return 0


def _pdf_pages(data: bytes) -> tuple[list[str], str]:
    import io

    import pypdf  # a dependency (pure Python, 12.4's own parser); imported on first use

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return [(p.extract_text() or "").strip() for p in reader.pages], "pypdf"
    except Exception as exc:
        raise IngestError(f"Failed to extract PDF content: {exc}") from None


def load(path: Path, options: Options) -> list[Chunk]:
    """The chunks of one file, with 12.4's metadata (raises IngestError)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # checked again on the opened file
            raise IngestError(f"not a regular file: {path}")
    except OSError as exc:
        raise IngestError(f"cannot open {path}: {exc.strerror or exc}") from None
    ext = path.suffix.lower().lstrip(".")
    if ext not in READABLE:
        raise IngestError(
            f"Unsupported file format: {path.suffix}. Supported formats: "
            + ", ".join(f".{e}" for e in SUPPORTED)
        )
    data, info = read_regular(path)
    size, overlap = options.chunk_size, options.chunk_overlap
    base = base_metadata(path, info, LOADERS.get(ext, "TextLoader"))
    pieces: list[tuple[str, dict[str, Any]]] = []
    meta: dict[str, Any]
    if ext == "pdf":
        pages, method = _pdf_pages(data)
        for number, page in enumerate(pages, start=1):
            # 12.4 chunks each page on its own: index, length and count are the page's.
            texts = paragraph_chunks(PARAGRAPH_BREAK.split(page), size, overlap)
            for i, text in enumerate(texts):
                meta = {
                    "page_number": number,
                    "extraction_method": method,
                    "content_type": "pdf_page",
                    "chunk_index": i,
                    "chunk_length": len(text),
                    "total_chunks": len(texts),
                    "chunking_strategy": "paragraph_aware",
                }
                pieces.append((text, meta))
    elif ext == "json":
        text, encoding = decode_text(data, path)
        try:
            parsed = json.loads(text)
            flat = "".join(f"{line}\n" for line in flatten_json(parsed))
            keys = count_keys(parsed)
        except ValueError as exc:
            raise IngestError(f"invalid JSON in {path}: {exc}") from None
        except RecursionError:
            raise IngestError(f"JSON nested too deeply in {path}") from None
        for text_ in character_chunks(flat, size, overlap):
            meta = {
                "encoding": encoding,
                "content_type": "json",
                "flatten_strategy": "dot_notation",
                "array_handling": "expand",
                "include_types": False,
                "max_depth": None,
                "original_keys_count": keys,
                "flattened_text_length": len(flat),
                "chunking_strategy": "character_based",
            }
            pieces.append((text_, meta))
    else:
        text, encoding = decode_text(data, path)
        markdown = ext in ("md", "markdown")
        paragraphs = markdown_paragraphs(text) if markdown else PARAGRAPH_BREAK.split(text)
        for text_ in paragraph_chunks(paragraphs, size, overlap):
            meta = {
                "encoding": encoding,
                "content_type": "markdown" if markdown else "plain_text",
                "total_characters": len(text),
                "total_lines": text.count("\n") + 1,
                "chunking_strategy": "markdown_sections" if markdown else "paragraph_aware",
            }
            if markdown:
                meta["markdown_headers"] = [
                    {"level": len(h.group(1)), "text": h.group(2)} for h in HEADING.finditer(text_)
                ]
                meta["has_code_blocks"] = "```" in text_
            pieces.append((text_, meta))
    extracted = datetime.now().isoformat()  # 12.4 writes naive local time
    chunks = []
    for index, (text_, meta) in enumerate(pieces):
        full = {**base, **meta}
        full.setdefault("chunk_length", len(text_))
        full.setdefault("total_chunks", len(pieces))
        full.setdefault("chunk_index", index)
        full.update(source=str(path), extracted_at=extracted)
        chunks.append(Chunk(text_, full))
    return chunks


# -- discovery -------------------------------------------------------------------------------


def discover(
    root: Path, extensions: list[str], recursive: bool, limit: int
) -> tuple[list[Path], list[str]]:
    """Files under ``root`` with one of ``extensions`` (sorted, at most ``limit``), and why
    others were skipped. A symlink is followed only if its target is a regular file inside
    ``root``; symlinked directories are never entered."""
    wanted = {e.lower().lstrip(".") for e in extensions}
    found: list[Path] = []
    skipped: list[str] = []
    if limit <= 0:
        return found, skipped
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if not recursive:
            dirnames.clear()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower().lstrip(".") not in wanted:
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    skipped.append(f"{name}: symlink leads outside {root}; not followed")
                    continue
                path = target
            if path not in found:
                found.append(path)
            if len(found) >= limit:
                return found, skipped
    return found, skipped


# -- the tool --------------------------------------------------------------------------------


def _options(args: dict[str, Any]) -> Options:
    size = a.as_int(args.get("chunk_size"), "chunk_size", 1000)
    overlap = a.as_int(args.get("chunk_overlap"), "chunk_overlap", 200)
    if size < 50:
        raise a.ArgumentError("chunk_size must be at least 50")
    if not 0 <= overlap < size:
        raise a.ArgumentError("chunk_overlap must be at least 0 and less than chunk_size")
    memory_type = a.as_str(args.get("memory_type"), "memory_type") or "document"
    return Options(
        tags=a.normalize_tags(args.get("tags")),
        chunk_size=size,
        chunk_overlap=overlap,
        memory_type=memory_type,
        store=v12.requested_store(args),
    )


def _error_lines(errors: list[str], header: str) -> list[str]:
    if not errors:
        return []
    lines = [f"{header}: {len(errors)}"]
    if len(errors) <= 5:
        return lines + [f"   - {e}" for e in errors]
    return [*lines, *(f"   - {e}" for e in errors[:3]), f"   ... and {len(errors) - 3} more errors"]


class _Writer:
    """Stores chunks through the daemon, counting and noting refusals, and reports progress
    to a client that asked for it (``total``: the chunks expected, when known)."""

    def __init__(self, daemon: Daemon, options: Options) -> None:
        self.daemon = daemon
        self.options = options
        self.stored = 0
        self.processed = 0
        self.progress = Progress()
        self.total: int | None = None
        self.where = ""

    async def report(self, *, last: bool = False) -> None:
        of = f" of {self.total}" if self.total is not None else ""
        message = f"{self.processed}{of} chunks processed, {self.stored} stored{self.where}"
        await self.progress.step(self.processed, self.total, message, last=last)

    async def write(self, chunk: Chunk, tags: list[str], label: str, errors: list[str]) -> bool:
        if self.processed >= MAX_CHUNKS:
            errors.append(f"{label}: not stored, the limit of {MAX_CHUNKS} chunks per call")
            return False
        self.processed += 1
        delivery = await self.daemon.call(
            m.Store(
                id=0,
                content=chunk.text,
                tags=tags,
                memory_type=self.options.memory_type,
                metadata=chunk.metadata,
                store=self.options.store,
            )
        )
        if delivery.error is not None:
            errors.append(f"{label}: {delivery.error.message}")
            await self.report()
            return False
        self.stored += 1
        await self.report()
        return True


def _locate(raw: str, directory: bool = False) -> tuple[Path, bool]:
    """The resolved path, and whether it exists (is a directory, for ``directory``)."""
    path = Path(raw).expanduser().resolve()
    return path, path.is_dir() if directory else path.exists()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # load says why


def _rate(stored: int, processed: int) -> float:
    return stored / processed * 100 if processed else 0.0


async def _ingest_file(daemon: Daemon, raw: str, options: Options) -> ToolResult:
    started = time.monotonic()
    path, exists = await trio.to_thread.run_sync(_locate, raw)
    if not exists:
        return ToolResult(f"Error: File not found: {path}")
    try:
        chunks = await trio.to_thread.run_sync(load, path, options)
    except IngestError as exc:
        return ToolResult(f"Error ingesting document: {exc}")
    writer = _Writer(daemon, options)
    writer.total = min(len(chunks), MAX_CHUNKS)
    errors: list[str] = []
    for chunk in chunks:
        await writer.write(chunk, options.tags, f"Chunk {chunk.metadata['chunk_index']}", errors)
    await writer.report(last=True)
    lines = [
        f"✅ Document ingestion completed: {path.name}",
        f"📄 Chunks processed: {writer.processed}",
        f"💾 Chunks stored: {writer.stored}",
        f"⚡ Success rate: {_rate(writer.stored, writer.processed):.1f}%",
        f"⏱️  Processing time: {time.monotonic() - started:.2f} seconds",
        *_error_lines(errors, "⚠️  Errors encountered"),
    ]
    return ToolResult("\n".join(lines))


async def _ingest_directory(daemon: Daemon, raw: str, args: dict[str, Any]) -> ToolResult:
    started = time.monotonic()
    options = _options(args)
    root, is_dir = await trio.to_thread.run_sync(_locate, raw, True)
    if not is_dir:
        return ToolResult(f"Error: Directory not found: {root}")
    recursive = a.as_bool(args.get("recursive"), "recursive", True)
    extensions = args.get("file_extensions")
    if extensions is None:
        extensions = list(DEFAULT_EXTENSIONS)
    if not isinstance(extensions, list):
        raise a.ArgumentError("file_extensions must be a list of extensions")
    max_files = min(a.as_int(args.get("max_files"), "max_files", 100), MAX_FILES)
    files, errors = await trio.to_thread.run_sync(
        discover, root, [str(e) for e in extensions], recursive, max(max_files, 0)
    )
    if not files:
        return ToolResult(f"No supported files found in directory: {root}")
    writer = _Writer(daemon, options)
    processed = failed = 0
    total = 0
    for number, path in enumerate(files, start=1):
        name = path.name
        writer.where = f" (file {number} of {len(files)}: {name})"
        try:
            total += await trio.to_thread.run_sync(_size, path)
            if total > MAX_TOTAL_BYTES:
                raise IngestError(f"not read: over {MAX_TOTAL_BYTES} bytes in one call")
            chunks = await trio.to_thread.run_sync(load, path, options)
        except IngestError as exc:
            errors.append(f"{name}: {exc}")
            failed += 1
            continue
        ext = path.suffix.lower().lstrip(".")
        tags = a.merge_tags(options.tags, [f"source_dir:{root.name}", f"file_type:{ext}"])
        stored = 0
        for chunk in chunks:
            label = f"{name} chunk {chunk.metadata['chunk_index']}"
            stored += await writer.write(chunk, tags, label, errors)
        if stored:
            processed += 1
        else:
            failed += 1
    writer.where = f" ({len(files)} files)"
    await writer.report(last=True)
    lines = [
        f"✅ Directory ingestion completed: {root.name}",
        f"📁 Files processed: {processed}/{len(files)}",
        f"📄 Total chunks processed: {writer.processed}",
        f"💾 Total chunks stored: {writer.stored}",
        f"⚡ Success rate: {_rate(writer.stored, writer.processed):.1f}%",
        f"⏱️  Processing time: {time.monotonic() - started:.2f} seconds",
    ]
    if failed:
        lines.append(f"❌ Files failed: {failed}")
    if errors:
        lines.append(f"⚠️  Total errors: {len(errors)}")
        lines.extend(f"   - {e}" for e in errors[:5])
        if len(errors) > 5:
            lines.append(f"   ... and {len(errors) - 5} more errors")
    return ToolResult("\n".join(lines))


async def ingest(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    file_path = a.as_str(args.get("file_path"), "file_path")
    directory_path = a.as_str(args.get("directory_path"), "directory_path")
    if file_path and directory_path:
        return ToolResult(
            json.dumps({"error": "Provide either file_path OR directory_path, not both"}, indent=2)
        )
    if file_path:
        return await _ingest_file(daemon, file_path, _options(args))
    if directory_path:
        return await _ingest_directory(daemon, directory_path, args)
    return ToolResult(
        json.dumps({"error": "Either file_path or directory_path required"}, indent=2)
    )
