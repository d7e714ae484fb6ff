"""memory_ingest throughput on a real multi-page PDF: pages/s and chunks/s, and parse-only pages/s.

Usage::

    python bench/ingest_pdf.py --pages 200 [--upstream-pages 20] [--json out.json]

The PDF is written here by the client session's small PDF 1.4 writer
(``tests/clients/fixtures.py``: Helvetica text, one content stream per page, a cross-reference
table), ``--pages`` pages of generated prose. Then:

* **parse**: memhub's PDF loader in this process: pypdf's text extraction alone, then the whole
  ``load`` (extraction and 12.4's chunking at 1000/200);
* **memhub**: ``memhub bridge`` on stdio (an MCP client, a fresh database, the real model, its
  daemon started and warmed by one store first), one ``memory_ingest`` call of the file; every
  chunk is an ordinary store through the daemon's writer, acked after commit;
* **side by side** (``--upstream-pages N``): an N-page PDF of the same prose, ingested by memhub
  as above and by mcp-memory-service 12.4.0's own stdio server from its cached virtualenv
  (``tests/compat/mms_env.py``: its real model, semantic dedup off), same warm-up, same call.

The figures are wall-clock times of the one call each, as the client sees them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.clients.fixtures import pdf_bytes  # noqa: E402

from memhub.config import runtime_paths  # noqa: E402
from memhub.discovery import read_runtime_file  # noqa: E402
from memhub.mcp_bridge.v12_tools import ingest  # noqa: E402

WORDS = (
    "the deploy pipeline builds each release from a tagged commit and the staging cluster "
    "runs the same images as production while the database keeps a nightly snapshot so a "
    "failed migration can be rolled back within minutes and every service reports its health "
    "to the dashboard where the on-call engineer sees latency error rates and queue depth "
    "before deciding whether to page the owning team or to wait for the automatic retry"
).split()
LINES_PER_PAGE = 46
CHARS_PER_LINE = 88


def prose(rng: random.Random, pages: int) -> list[list[str]]:
    """``pages`` pages of lines of sentences; a blank line ends each paragraph. Each sentence
    names a numbered item, so no two chunks are near-duplicates."""
    out = []
    for _ in range(pages):
        lines: list[str] = []
        line = ""
        while len(lines) < LINES_PER_PAGE:
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
            words.insert(rng.randrange(len(words)), f"item-{rng.randrange(10**6)}")
            sentence = " ".join(words)
            sentence = sentence[0].upper() + sentence[1:] + "."
            for word in sentence.split():
                if len(line) + len(word) + 1 > CHARS_PER_LINE:
                    lines.append(line)
                    line = ""
                line = f"{line} {word}" if line else word
            if rng.random() < 0.2:  # end of paragraph: a blank line (a space: pypdf drops "")
                lines.extend([line, " "])
                line = ""
        out.append(lines[:LINES_PER_PAGE])
    return out


def parse_only(path: Path) -> dict[str, Any]:
    import pypdf  # noqa: F401 (imported before the clock runs)

    data = path.read_bytes()
    started = time.perf_counter()
    texts, parser = ingest._pdf_pages(data)
    extract_s = time.perf_counter() - started
    options = ingest._options({"file_path": str(path)})
    started = time.perf_counter()
    chunks = ingest.load(path, options)
    load_s = time.perf_counter() - started
    pages = len(texts)
    return {
        "parser": parser,
        "pages": pages,
        "characters": sum(len(t) for t in texts),
        "chunks": len(chunks),
        "extract_s": round(extract_s, 2),
        "extract_pages_per_s": round(pages / extract_s, 1),
        "load_s": round(load_s, 2),
        "load_pages_per_s": round(pages / load_s, 1),
    }


STORED = re.compile(r"Chunks stored: (\d+)")
PROCESSED = re.compile(r"Chunks processed: (\d+)")


async def ingest_once(params: StdioServerParameters, path: Path, pages: int) -> dict[str, Any]:
    async with Client(params, mode="legacy") as client:
        # Starts the daemon (or 12.4's storage) and loads the model before the clock runs.
        warm = await client.call_tool("memory_store", {"content": "warm-up before the ingest"})
        assert not warm.is_error, warm
        started = time.perf_counter()
        result = await client.call_tool("memory_ingest", {"file_path": str(path)})
        elapsed = time.perf_counter() - started
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    stored, processed = STORED.search(text), PROCESSED.search(text)
    if stored is None or processed is None:
        raise RuntimeError(f"unexpected memory_ingest answer: {text[:2000]}")
    return {
        "seconds": round(elapsed, 1),
        "chunks_processed": int(processed.group(1)),
        "chunks_stored": int(stored.group(1)),
        "pages_per_s": round(pages / elapsed, 2),
        "chunks_per_s": round(int(stored.group(1)) / elapsed, 2),
    }


async def memhub_run(path: Path, pages: int, work: Path) -> dict[str, Any]:
    db = work / "memhub.db"
    env = dict(
        os.environ,
        MEMHUB_EMBEDDER="model",
        MCP_MEMORY_SQLITE_PATH=str(db),
        # As 12.4 runs below (tests/compat/mms_env.py): every chunk is stored, none refused as
        # a near-duplicate of generated prose.
        MCP_SEMANTIC_DEDUP_ENABLED="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "memhub", "bridge"], env=env)
    try:
        return await ingest_once(params, path, pages)
    finally:
        info = read_runtime_file(runtime_paths(db.resolve()).runtime)
        if info is not None:
            os.kill(info.pid, 15)


async def upstream_run(path: Path, pages: int, work: Path) -> dict[str, Any]:
    from tests.compat.mms_env import ensure_mms_venv, mms_env

    python = ensure_mms_venv("12.4.0")
    theirs = work / "upstream"
    theirs.mkdir()
    env = dict(mms_env(python, theirs), MCP_MEMORY_SQLITE_PATH=str(theirs / "sqlite_vec.db"))
    script = ROOT / "tests" / "clients" / "mms_stdio.py"
    params = StdioServerParameters(command=str(python), args=[str(script)], env=env)
    return await ingest_once(params, path, pages)


def write_pdf(work: Path, pages: int) -> Path:
    path = work / f"prose-{pages}p.pdf"
    path.write_bytes(pdf_bytes(prose(random.Random(7), pages)))
    return path


async def run(pages: int, upstream_pages: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    path = write_pdf(work, pages)
    result: dict[str, Any] = {"pages": pages, "pdf_bytes": path.stat().st_size}
    result["parse"] = parse_only(path)
    (work / "main").mkdir()
    result["memhub"] = await memhub_run(path, pages, work / "main")
    if upstream_pages:
        # 12.4 stores much more slowly: the side by side runs on a shorter file of the same
        # prose (its first pages), memhub again on that file, each on a fresh database.
        short = write_pdf(work, upstream_pages)
        (work / "side").mkdir()
        result["side_by_side"] = {
            "pages": upstream_pages,
            "memhub": await memhub_run(short, upstream_pages, work / "side"),
            "upstream_12_4": await upstream_run(short, upstream_pages, work / "side"),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument(
        "--upstream-pages",
        type=int,
        default=0,
        help="also ingest a PDF of this many pages with memhub and with 12.4.0's own server",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = trio.run(run, args.pages, args.upstream_pages)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
