"""Running ``rest_session.json`` against an HTTP server, and comparing two runs step by step.

:func:`normalize` removes what legitimately differs between two runs on two machines' worth of
state (times, epochs, durations, scores past two decimals); :func:`compare` reports every step
whose status or body differs and that ``allowed_differences.json`` does not list, and every
listed difference that no longer occurs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx2

HERE = Path(__file__).resolve().parent
SESSION = HERE / "rest_session.json"
ALLOWED = HERE / "allowed_differences.json"
_HASH_REF = re.compile(r"\$hash\(([^)]*)\)")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_REASON_SCORE = re.compile(r"(Semantic similarity|Composite|semantic|quality): \d\.\d+")
VOLATILE_NUMBERS = frozenset(
    {
        "created_at",
        "updated_at",
        "processing_time_ms",
        "uptime_seconds",
        "timestamp",
        "evaluation_time_ms",
    }
)


def steps() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(SESSION.read_text())["steps"]
    return loaded


def _resolve(text: str, key: str) -> str:
    text = text.replace("$KEY", key)
    return _HASH_REF.sub(
        lambda m: hashlib.sha256(m.group(1).strip().lower().encode()).hexdigest(), text
    )


def _resolve_json(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return _resolve(value, key)
    if isinstance(value, list):
        return [_resolve_json(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_json(v, key) for k, v in value.items()}
    return value


PROJECT = "-home-dev-proj"
TRANSCRIPT = HERE / "data" / "claude_session.jsonl"


def claude_project(home: Path) -> None:
    """The Claude Code project the harvest steps read, in ``home``."""
    project = home / ".claude" / "projects" / PROJECT
    project.mkdir(parents=True, exist_ok=True)
    (project / TRANSCRIPT.name).write_bytes(TRANSCRIPT.read_bytes())


def _scrub(value: Any, home: str) -> Any:
    if isinstance(value, str):
        return value.replace(home, "<HOME>")
    if isinstance(value, list):
        return [_scrub(v, home) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, home) for k, v in value.items()}
    return value


def run(base_url: str, key: str, home: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{step id: {"status": int, "body": JSON or text}}`` for every step, in order; the
    server's ``home`` reads ``<HOME>`` in the bodies."""
    out: dict[str, dict[str, Any]] = {}
    with httpx2.Client(base_url=base_url, timeout=120) as http:
        for step in steps():
            headers = {"Authorization": f"Bearer {key}"} if step.get("auth", True) else {}
            headers.update(_resolve_json(step.get("headers", {}), key))
            kwargs: dict[str, Any] = {}
            if "json" in step:
                kwargs["json"] = _resolve_json(step["json"], key)
            if "raw" in step:
                kwargs["content"] = step["raw"].encode()
                headers["content-type"] = step["content_type"]
            reply = http.request(
                step["method"], _resolve(step["path"], key), headers=headers, **kwargs
            )
            try:
                body: Any = reply.json()
            except ValueError:
                body = reply.text
            if home is not None:
                body = _scrub(body, str(home.resolve()))
            out[step["id"]] = {"status": reply.status_code, "body": body}
    return out


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(v) for v in value[:1]]
    return type(value).__name__


def normalize(value: Any, drop: frozenset[str] = frozenset()) -> Any:
    """``value`` without times, durations and score digits past two decimals."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in drop:
                continue
            if k in VOLATILE_NUMBERS and isinstance(v, int | float | str):
                out[k] = "<TIME>"
            elif k == "similarity_score" and isinstance(v, float):
                out[k] = str(round(v, 2))
            else:
                out[k] = normalize(v, drop)
        return out
    if isinstance(value, list):
        return [normalize(v, drop) for v in value]
    if isinstance(value, str):
        return _REASON_SCORE.sub(r"\1: <SCORE>", _ISO.sub("<ISO>", value))
    return value


def load_allowed() -> tuple[dict[str, dict[str, str]], frozenset[str]]:
    data = json.loads(ALLOWED.read_text())
    allowed: dict[str, dict[str, str]] = {}
    for entry in data["differences"]:
        allowed.setdefault(entry["step"], {})[entry["aspect"]] = entry["reason"]
    return allowed, frozenset(data["drop_keys"]["keys"])


def differences(
    ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]
) -> dict[str, dict[str, str]]:
    _, drop = load_allowed()
    modes = {s["id"]: s.get("compare", "values") for s in steps()}
    found: dict[str, dict[str, str]] = {}
    for step, mine in ours.items():
        other = theirs[step]
        if mine["status"] != other["status"]:
            found.setdefault(step, {})["status"] = (
                f"memhub {mine['status']} / 12.4 {other['status']}"
            )
        a, b = normalize(mine["body"], drop), normalize(other["body"], drop)
        if modes[step] == "keys":
            a, b = _keys(a), _keys(b)
        if a != b:
            found.setdefault(step, {})["body"] = (
                f"memhub: {json.dumps(a)[:600]}\n12.4:   {json.dumps(b)[:600]}"
            )
    return found


def compare(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> list[str]:
    allowed, _ = load_allowed()
    found = differences(ours, theirs)
    problems = [
        f"undocumented difference in {step} ({aspect}):\n{detail}"
        for step, aspects in found.items()
        for aspect, detail in aspects.items()
        if aspect not in allowed.get(step, {})
    ]
    problems.extend(
        f"documented difference no longer occurs: {step} ({aspect})"
        for step, aspects in allowed.items()
        for aspect in aspects
        if aspect not in found.get(step, {})
    )
    return problems
