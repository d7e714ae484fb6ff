"""The files the scripted session reads: documents for ``memory_ingest`` and a Claude Code
transcript for ``memory_harvest``, written into each run's work directory.

Steps name them through ``<WORK>`` (the run's work directory, substituted before the session
runs). The transcript lies where both memhub and 12.4 look for the current project's sessions
without ``project_path``: ``$HOME/.claude/projects/<cwd with each / as ->/``; the server runs
with ``HOME`` set to ``<WORK>/home`` and its client's working directory, ``<WORK>``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

WORK_TOKEN = "<WORK>"

NOTES_TXT = (
    "Release checklist for the billing service. Every release is cut from a tagged commit on "
    "main, built once, and promoted from staging to production without a rebuild.\n\n"
    "Before promoting, the on-call engineer checks the error budget on the dashboard and "
    "confirms that the nightly database snapshot finished; a failed migration is rolled back "
    "from that snapshot.\n"
)
GUIDE_MD = (
    "# Onboarding guide\n\n"
    "New engineers get access to the staging cluster on their first day and shadow the "
    "on-call rotation for one week before taking a shift of their own.\n\n"
    "## Local setup\n\n"
    "Clone the monorepo, run the bootstrap script and start the services with the compose "
    "file in the ops directory; the seed data loads automatically on the first start.\n"
)
PDF_PAGES = (
    [
        "Incident runbook: queue backlog",
        "",
        "When the ingest queue grows past ten thousand messages, scale the consumer pool",
        "to twice its size and watch the lag graph for five minutes before paging anyone.",
    ],
    [
        "Incident runbook: database failover",
        "",
        "If the primary stops answering health checks for two minutes, promote the replica",
        "in the other zone and point the connection pooler at it; then open an incident.",
    ],
)
TRANSCRIPT = (
    ("user", "Why did the nightly export job fail again last night, can you check the logs?"),
    (
        "assistant",
        "The root cause was a timezone bug: the export compared naive timestamps with aware "
        "ones, so the cutoff fell an hour early and the job crashed on an empty batch.",
    ),
    (
        "assistant",
        "We decided to use UTC everywhere in the export code instead of local time because "
        "the scheduler already runs in UTC.",
    ),
    ("user", "Good. From now on always run the export tests before merging."),
    (
        "assistant",
        "Convention: always run the export tests before merging changes to the export job, "
        "and never use naive datetimes in that module.",
    ),
    (
        "assistant",
        "I learned that the scheduler retries a failed job only once, so a second failure "
        "needs a manual rerun.",
    ),
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]] | tuple[list[str], ...]) -> bytes:
    """A valid PDF 1.4 with one page of Helvetica 10 pt text per item of ``pages`` (one item
    per line)."""
    n = len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{4 + 2 * i} 0 R".encode() for i in range(n))
        + f"] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, lines in enumerate(pages):
        body = "BT /F1 10 Tf 14 TL 56 780 Td\n"
        body += "".join(f"({_escape(line)}) Tj T*\n" for line in lines) + "ET\n"
        stream = body.encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> " + f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets))
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def _transcript_lines() -> str:
    lines = []
    for i, (role, text) in enumerate(TRANSCRIPT):
        lines.append(
            {
                "type": role,
                "uuid": f"00000000-0000-4000-8000-{i:012d}",
                "timestamp": f"2026-11-02T10:{i:02d}:00.000Z",
                "message": {"role": role, "content": [{"type": "text", "text": text}]},
            }
        )
    return "".join(json.dumps(line) + "\n" for line in lines)


def write(work: Path) -> dict[str, str]:
    """Write the files under ``work``; the environment the server needs to find them."""
    docs = work / "fixtures"
    docs.mkdir(exist_ok=True)
    (docs / "notes.txt").write_text(NOTES_TXT)
    (docs / "guide.md").write_text(GUIDE_MD)
    (docs / "runbook.pdf").write_bytes(pdf_bytes(PDF_PAGES))
    home = work / "home"
    project = home / ".claude" / "projects" / str(work.resolve()).replace(os.sep, "-")
    project.mkdir(parents=True, exist_ok=True)
    (project / "export-debugging.jsonl").write_text(_transcript_lines())
    return {"HOME": str(home)}


def substitute(value: Any, work: Path) -> Any:
    """``value`` with ``<WORK>`` in its strings replaced by ``work``."""
    if isinstance(value, str):
        return value.replace(WORK_TOKEN, str(work.resolve()))
    if isinstance(value, list):
        return [substitute(v, work) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, work) for k, v in value.items()}
    return value
