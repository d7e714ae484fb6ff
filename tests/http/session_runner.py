"""The scripted agent session (``tests/clients/session.json``) through the Python MCP SDK's
``ClientSession``, over any transport: each step's text and ``isError`` as ``ts/session.mjs``
records them, so that runs over stdio and over Streamable HTTP can be compared step by step."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from mcp.client.session import ClientSession

from tests.clients import fixtures, harness

if TYPE_CHECKING:
    from pathlib import Path

_HASH_REF = re.compile(r"^\$hash\((.*)\)$", re.S)


def resolve(value: Any) -> Any:
    if isinstance(value, str):
        found = _HASH_REF.match(value)
        if found:
            return hashlib.sha256(found.group(1).strip().lower().encode()).hexdigest()
        return value
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


async def _step(session: ClientSession, step: dict[str, Any]) -> dict[str, Any]:
    op = step["op"]
    if op == "tools/list":
        tools = (await session.list_tools()).tools
        return {"text": json.dumps(sorted(t.name for t in tools))}
    if op == "prompts/list":
        prompts = (await session.list_prompts()).prompts
        shown = [
            {
                "name": p.name,
                "description": p.description,
                "arguments": [
                    {"name": a.name, "description": a.description, "required": bool(a.required)}
                    for a in p.arguments or []
                ],
            }
            for p in prompts
        ]
        return {"text": json.dumps(shown, indent=1)}
    if op == "call":
        result = await session.call_tool(step["tool"], resolve(step.get("args", {})))
        text = "\n".join(getattr(c, "text", f"[{c.type}]") for c in result.content)
        return {"isError": bool(result.is_error), "text": text}
    if op == "resources/list":
        resources = (await session.list_resources()).resources
        return {"text": json.dumps([[str(r.uri), r.name, r.mime_type] for r in resources])}
    if op == "resources/read":
        contents = (await session.read_resource(step["uri"])).contents
        return {
            "text": "\n".join(f"{c.mime_type or ''}\n{getattr(c, 'text', '')}" for c in contents)
        }
    if op == "prompts/get":
        got = await session.get_prompt(step["name"], step.get("args"))
        body = [f"{m.role}: {getattr(m.content, 'text', '')}" for m in got.messages]
        return {"text": "\n".join([got.description or "", *body])}
    raise ValueError(f"unknown op {op}")


async def run_steps(session: ClientSession, work: Path) -> list[dict[str, Any]]:
    """Every step of the session, its files in ``work`` (:func:`fixtures.write`: the server
    must find them there); a step that raises is recorded with its error."""
    fixtures.write(work)
    out = []
    for step in fixtures.substitute(harness.load_steps(), work):
        try:
            out.append({"id": step["id"], **(await _step(session, step))})
        except Exception as exc:
            out.append({"id": step["id"], "error": str(exc)})
    return out
