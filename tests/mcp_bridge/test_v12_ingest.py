"""``memory_ingest`` and ``memory_harvest``: chunking and hostile paths in process, then real
``memhub bridge`` processes (hash embedder) writing to a daemon, and the HTTP transport that
neither lists nor runs them."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.mcp_bridge.v12_tools import harvest as hv
from memhub.mcp_bridge.v12_tools import ingest as ing
from memhub.protocol import messages as m

from .e2e import call_ok, call_refused, open_bridge, rows, text_of
from .fakes import FakeDaemon

OPTIONS = ing.Options(
    tags=[], chunk_size=1000, chunk_overlap=200, memory_type="document", store="default"
)


def _paragraph(n: int, length: int) -> str:
    words = f"p{n} word." if n % 2 else f"p{n} word"
    text = " ".join([words] * (length // (len(words) + 1) + 1))
    return text[:length].strip()


# -- chunking --------------------------------------------------------------------------------


def test_paragraphs_are_packed_up_to_chunk_size_with_overlap() -> None:
    paras = [_paragraph(n, 300) for n in range(8)]
    chunks = ing.paragraph_chunks(paras, 700, 100)
    assert chunks[0] == f"{paras[0]}\n\n{paras[1]}"
    assert all(len(c) <= 700 + 100 for c in chunks)  # 12.4: the overlap comes on top
    # No paragraph is cut: each one is whole in some chunk.
    assert all(any(p in c for c in chunks) for p in paras)
    # Each later chunk begins with the end of the one before (at most 100 characters, from a
    # sentence start), then whole paragraphs.
    for before, after in itertools.pairwise(chunks):
        lead = after.split("\n\n")[0]
        overlap = next(lead[: -len(p)] for p in paras if lead.endswith(p)).strip()
        assert 0 < len(overlap) <= 100
        # 12.4's overlap: the words after the first sentence end in the last 100 characters,
        # without their punctuation.
        words = before[-100:].replace(".", "").split()
        assert overlap.split() == words[-len(overlap.split()) :]
    # Without overlap, chunks are whole paragraphs only; a larger size packs more.
    plain = ing.paragraph_chunks(paras, 700, 0)
    assert plain == [f"{paras[i]}\n\n{paras[i + 1]}" for i in range(0, 8, 2)]
    assert len(ing.paragraph_chunks(paras, 1500, 100)) < len(chunks)


def test_the_overlap_is_12_4s() -> None:
    assert ing._overlap_tail("aaaa. bbbb. cccc. dddd", 12) == "cccc dddd "
    assert ing._overlap_tail("short", 12) == "short "
    assert ing._overlap_tail("no sentence end in this tail", 12) == "in this tail "
    assert ing._overlap_tail("anything", 0) == ""


def test_a_paragraph_longer_than_the_chunk_size_is_cut_at_whitespace() -> None:
    long = " ".join(f"w{i}" for i in range(2000))
    chunks = ing.paragraph_chunks([long], 500, 50)
    assert len(chunks) > 10
    assert all(len(c) <= 500 for c in chunks)
    assert all(not c.startswith(" ") and re.fullmatch(r"(w\d+ )*w\d+", c) for c in chunks)
    # Overlap: the first word of each chunk appeared at the end of the one before.
    assert all(nxt.split()[0] in prev[-60:] for prev, nxt in itertools.pairwise(chunks))
    assert chunks[-1].endswith("w1999")


def test_short_documents_still_give_one_chunk_and_markdown_splits_at_headings() -> None:
    assert ing.paragraph_chunks(["tiny note"], 1000, 200) == ["tiny note"]
    body = "x " * 300
    md = f"# One\n\n{body}\n\n## Two\n\n{body}\n\n## Three\n\n{body}"
    chunks = ing.paragraph_chunks(ing.markdown_paragraphs(md), 700, 0)
    assert [c.split("\n")[0] for c in chunks] == ["# One", "## Two", "## Three"]


def test_json_is_flattened_with_python_spellings() -> None:
    flat = ing.flatten_json({"a": {"b": 1, "c": [1, 2, {"d": True}]}, "e": None})
    assert flat == ["a.b: 1", "a.c[0]: 1", "a.c[1]: 2", "a.c[2].d: True", "e: None"]


def test_pdf_chunks_are_counted_per_page_as_12_4_does(tmp_path: Path) -> None:
    pytest.importorskip("pypdf")
    from tests.clients.fixtures import pdf_bytes

    long_page = [f"Line {i} of a long first page, " + "word " * 30 for i in range(40)]
    doc = tmp_path / "two.pdf"
    doc.write_bytes(pdf_bytes([long_page, ["A short second page with one paragraph only."]]))
    chunks = ing.load(doc, OPTIONS)
    first = [c.metadata for c in chunks if c.metadata["page_number"] == 1]
    second = [c.metadata for c in chunks if c.metadata["page_number"] == 2]
    assert len(first) > 1
    assert len(second) == 1
    # 12.4 chunks each page on its own: index and count are the page's, in 12.4's key order.
    assert [meta["chunk_index"] for meta in first] == list(range(len(first)))
    assert {meta["total_chunks"] for meta in first} == {len(first)}
    assert (second[0]["chunk_index"], second[0]["total_chunks"]) == (0, 1)
    keys = list(second[0])
    order = ["page_number", "chunk_index", "chunk_length", "total_chunks", "chunking_strategy"]
    assert [k for k in keys if k in order] == order


def test_load_gives_12_4s_metadata(tmp_path: Path) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text("\n\n".join(_paragraph(n, 400) for n in range(5)), encoding="utf-8")
    chunks = ing.load(doc, OPTIONS)
    assert len(chunks) == 3
    meta = chunks[1].metadata
    assert meta["chunk_index"] == 1
    assert meta["total_chunks"] == 3
    assert meta["source_file"] == meta["source"] == str(doc)
    assert (meta["file_name"], meta["file_extension"]) == ("notes.txt", ".txt")
    assert meta["content_type"] == "plain_text"
    assert meta["chunking_strategy"] == "paragraph_aware"
    assert meta["chunk_length"] == len(chunks[1].text)


# -- hostile paths ---------------------------------------------------------------------------


def test_devices_fifos_directories_and_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ing.IngestError, match="not a regular file: /dev/zero"):
        ing.read_regular(Path("/dev/zero"))
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(ing.IngestError, match="not a regular file"):
        ing.read_regular(fifo)  # refused at once, not waited on
    with pytest.raises(ing.IngestError, match="not a regular file"):
        ing.read_regular(tmp_path)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(ing.MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ing.IngestError, match="file too large"):
        ing.read_regular(huge)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    with pytest.raises(ing.IngestError, match="binary file"):
        ing.load(binary, OPTIONS)
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * 200)
    secret.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ing.IngestError, match="cannot open"):
            ing.read_regular(secret)


def test_discovery_stays_inside_the_named_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("secret " * 50)
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# A\n\n" + "a " * 80)
    (root / "sub" / "b.txt").write_text("b " * 80)
    (root / "skip.py").write_text("print(1)")
    (root / "escape.txt").symlink_to(outside / "private.txt")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "sub" / "b.txt")
    files, skipped = ing.discover(root.resolve(), ["md", "txt"], True, 100)
    assert [p.relative_to(root) for p in files] == [Path("a.md"), Path("sub/b.txt")]
    assert skipped == [f"escape.txt: symlink leads outside {root}; not followed"]
    (root / "alias.txt").unlink()
    flat, _ = ing.discover(root.resolve(), ["md", "txt"], False, 100)
    assert [p.relative_to(root) for p in flat] == [Path("a.md")]
    assert len(ing.discover(root.resolve(), ["md", "txt"], True, 1)[0]) == 1


def _stored(request: m.Request) -> m.Reply:
    return m.Stored(id=1, content_hash="0" * 64, memory_type="document", created_at=1.0)


async def test_chunk_byte_and_file_caps_stop_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6):
        (root / f"f{i}.txt").write_text(f"file {i} " * 100)  # 700 bytes, one chunk each
    monkeypatch.setattr(ing, "MAX_CHUNKS", 3)
    daemon = FakeDaemon(*[_stored] * 3)
    text = (await ing.ingest(daemon, {"directory_path": str(root)})).text
    assert len(daemon.requests) == 3
    assert "💾 Total chunks stored: 3" in text
    assert "   - f3.txt chunk 0: not stored, the limit of 3 chunks per call" in text
    monkeypatch.setattr(ing, "MAX_CHUNKS", 5000)
    monkeypatch.setattr(ing, "MAX_TOTAL_BYTES", 1500)
    daemon = FakeDaemon(*[_stored] * 2)
    text = (await ing.ingest(daemon, {"directory_path": str(root)})).text
    assert len(daemon.requests) == 2
    assert "   - f2.txt: not read: over 1500 bytes in one call" in text
    monkeypatch.setattr(ing, "MAX_FILES", 4)
    text = (
        await ing.ingest(FakeDaemon(*[_stored] * 6), {"directory_path": str(root), "max_files": 50})
    ).text
    assert "📁 Files processed: 2/4" in text


def test_deep_json_and_long_transcript_lines_are_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ing.IngestError, match="JSON nested too deeply"):
        ing.load(deep, OPTIONS)
    monkeypatch.setattr(hv, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "s.jsonl"
    long_line = _line(
        "assistant", [{"type": "text", "text": "We chose A over B because " + "x" * 5000}]
    )
    path.write_text(long_line + "\n" + TRANSCRIPT, encoding="utf-8")
    assert [m.role for m in hv.parse_transcript(path)] == ["user", "assistant", "assistant"]


# -- harvest heuristics ----------------------------------------------------------------------


def test_heuristics_follow_12_4() -> None:
    said = hv.Message(
        "assistant",
        "We decided to use Postgres over MySQL because of JSONB. It is great. "
        "The root cause was a race in the cache layer. The fix was a lock.",
    )
    found = {c.memory_type: c for c in hv.extract(said)}
    assert set(found) == {"decision", "bug"}
    assert found["decision"].content == (
        "We decided to use Postgres over MySQL because of JSONB.. It is great."
    )
    assert found["decision"].confidence == 0.75
    assert found["bug"].confidence == pytest.approx(0.8)  # two bug patterns: 0.75 + 0.05
    # A user's decision is not mined; a user's convention is.
    assert hv.extract(hv.Message("user", said.text)) == []
    rule = hv.Message("user", "Convention: always use trio, never asyncio, in this repo.")
    assert [c.memory_type for c in hv.extract(rule)] == ["convention"]
    # Context tops out at 0.65 and never passes the 0.75 gate; short texts are skipped.
    status = hv.Message("assistant", "Current status: progress is fine, next steps are tests.")
    assert hv.extract(status) == []
    assert hv.extract(hv.Message("assistant", "I decided X over Y.")) == []
    # Talk about the harvester itself is skipped.
    meta = hv.Message("assistant", "The harvest pipeline: we decided on regex over an LLM for it.")
    assert hv.extract(meta) == []


def _line(kind: str, content: Any) -> str:
    return json.dumps({"type": kind, "uuid": "u", "message": {"role": kind, "content": content}})


TRANSCRIPT = "\n".join(
    [
        json.dumps({"type": "summary", "summary": "s"}),
        _line("user", "Rule: never commit directly to main, always open a branch first."),
        _line(
            "assistant",
            [
                {"type": "thinking", "thinking": "We decided to hide this over that because."},
                {
                    "type": "text",
                    "text": "I looked into it. The root cause was a stale lock file left by "
                    "the crashed worker. I removed it on startup.",
                },
                {"type": "tool_use", "name": "Bash", "input": {}},
            ],
        ),
        "{not json",
        _line("assistant", [{"type": "text", "text": "<system-reminder>decided x over y"}]),
        _line(
            "assistant",
            [{"type": "text", "text": "We chose SQLite over Postgres because it is embedded."}],
        ),
    ]
)


def test_a_claude_code_transcript_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(TRANSCRIPT, encoding="utf-8")
    messages = hv.parse_transcript(path)
    assert [m.role for m in messages] == ["user", "assistant", "assistant"]
    [session] = hv.harvest_files([path], set(hv.TYPES), 0.6)
    assert sorted(c.memory_type for c in session.candidates) == ["bug", "convention", "decision"]
    [only] = hv.harvest_files([path], {"bug"}, 0.6)
    assert [c.memory_type for c in only.candidates] == ["bug"]
    assert hv.harvest_files([path], set(hv.TYPES), 0.9)[0].candidates == []


def test_session_ids_cannot_leave_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.jsonl").write_text(TRANSCRIPT)
    (tmp_path / "b.jsonl").write_text(TRANSCRIPT)
    (root / "c.jsonl").symlink_to(tmp_path / "b.jsonl")
    assert [p.name for p in hv.session_files(root, ["a", "../b", "c"], 5)] == ["a.jsonl"]
    assert [p.name for p in hv.session_files(root, None, 5)] == ["a.jsonl"]


# -- end to end ------------------------------------------------------------------------------


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "deep").mkdir(parents=True)
    (root / "guide.md").write_text(
        "# Guide\n\n"
        + "Install it with pip and run the daemon once. " * 10
        + "\n\n## Usage\n\n"
        + "Call the tools from any MCP client you like. " * 30,
        encoding="utf-8",
    )
    (root / "deep" / "notes.txt").write_text(
        "\n\n".join(_paragraph(n, 450) for n in range(6)), encoding="utf-8"
    )
    (root / "config.json").write_text(
        json.dumps({"server": {"port": 8000, "hosts": ["a", "b"]}, "debug": False})
    )
    (root / "image.txt").write_bytes(b"\x89PNG\x00\x00" * 50)
    outside = tmp_path / "private.txt"
    outside.write_text("do not read me " * 20)
    (root / "leak.txt").symlink_to(outside)
    (root / "zero.txt").symlink_to("/dev/zero")
    return root


@pytest.mark.slow
async def test_ingest_a_directory_then_again(db: Path, tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    args = {"directory_path": str(root), "tags": ["Docs", "proj,x"], "store": "docs"}
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            assert "memory_ingest" in [t.name for t in (await c.list_tools()).tools]
            text = await call_ok(c, "memory_ingest", args)
            again = await call_ok(c, "memory_ingest", args)
    lines = text.split("\n")
    assert lines[0] == "✅ Directory ingestion completed: corpus"
    assert lines[1] == "📁 Files processed: 3/4"  # image.txt is binary; leak/zero not taken
    stored = rows(
        db,
        "SELECT content, tags, memory_type, metadata, store FROM memories WHERE deleted_at IS NULL",
    )
    n = len(stored)
    assert f"📄 Total chunks processed: {n}" in lines
    assert f"💾 Total chunks stored: {n}" in lines
    assert "⚡ Success rate: 100.0%" in lines
    assert "❌ Files failed: 1" in lines
    assert any("leak.txt: symlink leads outside" in ln for ln in lines)
    assert any("zero.txt: symlink leads outside" in ln for ln in lines)
    assert any(ln.startswith("   - image.txt: binary file") for ln in lines)
    assert not any("do not read me" in r[0] for r in stored)
    by_file: dict[str, list[tuple[Any, ...]]] = {}
    for row in stored:
        by_file.setdefault(json.loads(row[3])["file_name"], []).append(row)
    assert sorted(by_file) == ["config.json", "guide.md", "notes.txt"]
    assert len(by_file["notes.txt"]) == 5  # p0+p1, then overlap + one paragraph each
    for content, tags, memory_type, meta, store in stored:
        meta = json.loads(meta)
        ext = meta["file_extension"].lstrip(".")
        assert tags.split(",") == ["docs", "proj-x", "source_dir:corpus", f"file_type:{ext}"]
        assert (memory_type, store) == ("document", "docs")
        assert meta["chunk_length"] == len(content)
    [json_row] = by_file["config.json"]
    assert json.loads(json_row[3])["original_keys_count"] == 4
    assert json.loads(json_row[3])["content_type"] == "json"
    assert json_row[0] == "server.port: 8000\nserver.hosts[0]: a\nserver.hosts[1]: b\ndebug: False"
    # Re-ingesting stores nothing new: every chunk is an exact duplicate, reported, not fatal.
    assert f"📄 Total chunks processed: {n}" in again
    assert "💾 Total chunks stored: 0" in again
    assert "⚡ Success rate: 0.0%" in again
    assert "Duplicate content detected (exact match)" in again
    assert "❌ Files failed: 4" in again
    assert len(rows(db, "SELECT 1 FROM memories WHERE deleted_at IS NULL")) == n


@pytest.mark.slow
async def test_ingest_one_file_and_the_refusals(db: Path, tmp_path: Path) -> None:
    real = tmp_path  # pytest gives it resolved
    doc = tmp_path / "Report.md"
    doc.write_text("# Report\n\n" + "The numbers went up this quarter. " * 40, encoding="utf-8")
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            text = await call_ok(
                c,
                "memory_ingest",
                {
                    "file_path": str(doc),
                    "memory_type": "reference",
                    "chunk_size": 400,
                    "chunk_overlap": 50,
                    "tags": ["q3"],
                },
            )
            dup = await call_ok(
                c, "memory_ingest", {"file_path": str(doc), "chunk_size": 400, "chunk_overlap": 50}
            )
            via_alias = await call_ok(c, "ingest_document", {"path": str(doc)})
            refusals = {
                "missing": await call_refused(
                    c, "memory_ingest", {"file_path": str(tmp_path / "nope.txt")}
                ),
                "device": await call_refused(c, "memory_ingest", {"file_path": "/dev/zero"}),
                "dir": await call_refused(c, "memory_ingest", {"file_path": str(tmp_path)}),
                "both": await call_ok(
                    c, "memory_ingest", {"file_path": "a", "directory_path": "b"}
                ),
                "neither": await call_ok(c, "memory_ingest", {}),
                "format": await call_refused(c, "memory_ingest", {"file_path": str(db)}),
                "nodir": await call_refused(c, "memory_ingest", {"directory_path": str(doc)}),
                "overlap": await call_refused(
                    c, "memory_ingest", {"file_path": str(doc), "chunk_overlap": 5000}
                ),
            }
            pdf = tmp_path / "paper.pdf"
            pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
            pdf_text = (await c.call_tool("memory_ingest", {"file_path": str(pdf)})).content[0]
    stored = rows(
        db,
        "SELECT content, tags, memory_type FROM memories WHERE deleted_at IS NULL AND tags = 'q3'",
    )
    # The alias ingested at 12.4's 1000 characters: other chunks, untagged, typed 'document'.
    by_alias = rows(
        db,
        "SELECT content, memory_type, tags FROM memories WHERE deleted_at IS NULL",
    )
    by_alias = [r for r in by_alias if r[2] != "q3"]
    assert by_alias, rows(db, "SELECT tags, length(content) FROM memories")
    assert all(t == "document" for _, t, _ in by_alias)
    assert max(len(c) for c, _, _ in by_alias) > 400
    assert len(stored) > 3
    assert all(len(content) <= 400 for content, _, _ in stored)
    assert {(tags, mtype) for _, tags, mtype in stored} == {("q3", "reference")}
    lines = text.split("\n")
    assert lines[0] == "✅ Document ingestion completed: Report.md"
    assert lines[1:4] == [
        f"📄 Chunks processed: {len(stored)}",
        f"💾 Chunks stored: {len(stored)}",
        "⚡ Success rate: 100.0%",
    ]
    assert re.fullmatch(r"⏱️  Processing time: \d+\.\d\d seconds", lines[4])
    assert len(lines) == 5
    dup_lines = dup.split("\n")
    assert f"⚠️  Errors encountered: {len(stored)}" in dup_lines
    assert "   - Chunk 0: Duplicate content detected (exact match)" in dup_lines
    assert via_alias.startswith("✅ Document ingestion completed: Report.md")
    assert refusals["missing"] == f"Error: File not found: {real}/nope.txt"
    assert refusals["device"] == "Error ingesting document: not a regular file: /dev/zero"
    assert refusals["dir"].startswith("Error ingesting document: not a regular file")
    assert json.loads(refusals["both"]) == {
        "error": "Provide either file_path OR directory_path, not both"
    }
    assert json.loads(refusals["neither"]) == {
        "error": "Either file_path or directory_path required"
    }
    assert refusals["format"].startswith("Error ingesting document: Unsupported file format: .db.")
    assert refusals["nodir"] == f"Error: Directory not found: {real}/Report.md"
    assert refusals["overlap"].startswith("Error: chunk_overlap must be")
    pdf_message = str(getattr(pdf_text, "text", ""))
    try:
        import pypdf  # noqa: F401
    except ImportError:
        assert "pip install pypdf" in pdf_message
    else:
        assert pdf_message.startswith(("✅", "Error ingesting document: Failed to extract"))


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "sess-1.jsonl").write_text(TRANSCRIPT, encoding="utf-8")
    return project


@pytest.mark.slow
async def test_harvest_dry_run_writes_nothing_and_a_real_run_stores(
    db: Path, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12", MCP_AGENT_ID="agent-7") as c:
            dry = json.loads(await call_ok(c, "memory_harvest", {"project_path": str(project)}))
            await call_ok(c, "memory_list", {})  # the daemon is up (and its schema made)
            assert rows(db, "SELECT 1 FROM memories") == []
            real = json.loads(
                await call_ok(
                    c,
                    "memory_harvest",
                    {"project_path": str(project), "dry_run": False, "auto_commit": True},
                )
            )
            again = await call_ok(
                c, "memory_harvest", {"project_path": str(project), "dry_run": False}
            )
            (project / "sess-2.jsonl").write_text(
                _line(
                    "assistant",
                    [
                        {
                            "type": "text",
                            "text": "Turns out the cache was cold. "
                            "Lesson: warm it first, the key finding of today.",
                        }
                    ],
                ),
                encoding="utf-8",
            )
            second = json.loads(
                await call_ok(c, "memory_harvest", {"project_path": str(project), "dry_run": False})
            )
            llm = await call_refused(c, "memory_harvest", {"use_llm": True})
            missing = await call_refused(
                c, "memory_harvest", {"project_path": str(tmp_path / "gone")}
            )
    [result] = dry["results"]
    assert dry["dry_run"] is True
    assert result["session_id"] == "sess-1"
    assert result["total_messages"] == 3
    assert result["found"] == 3
    assert result["stored"] == 0
    assert result["by_type"] == {"decision": 1, "bug": 1, "convention": 1}
    assert result["coverage"] == {}
    assert {c["type"]: c["tags"] for c in result["candidates"]}["bug"] == ["harvest:bug"]
    assert real["dry_run"] is False
    assert real["results"][0]["stored"] == 3
    [commit] = real["auto_commit_results"]
    assert commit["session_id"] == "sess-1"
    assert commit["committed"] is True
    assert commit["result"]["status"] == "recorded"
    harvested = rows(
        db,
        "SELECT content, tags, memory_type, metadata FROM memories "
        "WHERE deleted_at IS NULL AND tags LIKE 'session-harvest%' "
        "AND json_extract(metadata, '$.harvest_session_id') = 'sess-1'",
    )
    # 'convention' is no type of 12.4's ontology: the daemon stores it as an observation.
    assert sorted(r[2] for r in harvested) == ["bug", "decision", "observation"]
    kinds = []
    for _, tags, _, meta in harvested:
        assert tags.startswith("session-harvest,harvest:method:heuristic,harvest:")
        kinds.append(tags.rsplit(":", 1)[1])
        meta = json.loads(meta)
        assert meta["source"] == "harvest"
        assert meta["harvest_session_id"] == "sess-1"
        assert meta["harvest_pipeline_version"] == 3
    assert sorted(kinds) == ["bug", "convention", "decision"]
    # The second run took only the new session; the tracker was replaced, not added to.
    assert [r["session_id"] for r in second["results"]] == ["sess-2"]
    assert second["results"][0]["by_type"] == {"learning": 1}
    assert second["results"][0]["stored"] == 1
    [(tracker,)] = rows(
        db, "SELECT content FROM memories WHERE deleted_at IS NULL AND tags = 'harvest-tracker'"
    )
    assert tracker == "harvested_sessions:sess-1,sess-2"
    assert len(rows(db, "SELECT 1 FROM memories WHERE tags = 'harvest-tracker'")) == 2
    decisions = rows(
        db,
        "SELECT content FROM memories WHERE deleted_at IS NULL AND tags = 'decision'",
    )
    assert decisions
    assert decisions[0][0].startswith("Decision: We chose SQLite over Postgres")
    assert json.loads(again) == {
        "dry_run": False,
        "results": [],
        "note": "All 1 sessions already harvested",
    }
    assert json.loads(llm)["error"].startswith("use_llm is not available: memhub makes no LLM")
    assert json.loads(missing) == {"error": f"Project directory not found: {tmp_path / 'gone'}"}


@pytest.mark.slow
async def test_http_neither_lists_nor_runs_them(tmp_path: Path) -> None:
    from tests.http.helpers import http_daemon
    from tests.http.mcp_clients import http_session

    doc = tmp_path / "a.txt"
    doc.write_text("http must not read this file " * 10)
    with http_daemon(tmp_path / "db.sqlite", {"MEMHUB_TOOL_SCHEMAS": "v12"}) as daemon:
        with trio.fail_after(60):
            async with http_session(daemon.url, daemon.key) as session:
                names = [t.name for t in (await session.list_tools()).tools]
                answers = [
                    await session.call_tool(name, args)
                    for name, args in (
                        ("memory_ingest", {"file_path": str(doc)}),
                        ("memory_harvest", {"project_path": str(tmp_path)}),
                        ("ingest_document", {"path": str(doc)}),
                    )
                ]
    assert len(names) == 26
    assert "memory_ingest" not in names
    assert "memory_harvest" not in names
    assert "memory_distill" in names
    texts = [str(getattr(r.content[0], "text", "")) for r in answers]
    assert texts == [
        '{"error": "Tool not available over this transport: memory_ingest"}',
        '{"error": "Tool not available over this transport: memory_harvest"}',
        '{"error": "Tool not available over this transport: ingest_document"}',
    ]
    assert not any(r.is_error for r in answers)


async def test_a_long_ingest_reports_progress_to_a_client_that_asks(
    db: Path, tmp_path: Path
) -> None:
    """The SDK client sends a progressToken with a progress callback: the bridge reports the
    chunks done (throttled; the first and the last report always go out), and the result is
    the usual one. Without a callback nothing is sent (every other test)."""
    doc = tmp_path / "long.txt"
    doc.write_text("\n\n".join(_paragraph(n, 450) for n in range(24)), encoding="utf-8")
    seen: list[tuple[float, float | None, str | None]] = []

    async def note(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    args = {"file_path": str(doc), "chunk_size": 500, "chunk_overlap": 0}
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            result = await c.call_tool("memory_ingest", args, progress_callback=note)
    text = text_of(result)
    assert not result.is_error, text
    processed = re.search(r"Chunks processed: (\d+)", text)
    assert processed is not None, text
    total = int(processed.group(1))
    assert total > 1
    done = [step[0] for step in seen]
    assert len(done) >= 2
    assert done == sorted(done)
    assert done[0] == 1
    last = f"{total} of {total} chunks processed, {total} stored"
    assert seen[-1] == (total, total, last)
