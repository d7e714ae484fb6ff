"""The scripted agent session, driven through FastMCP's client (run in its own virtualenv).

Usage: ``python fastmcp_session.py <spec.json>``; the spec is ``{command, args, env, steps}``.
Prints one JSON document: per step ``{id, isError, raised, text}`` or ``{id, error}``. Tool
calls use FastMCP's default ``call_tool``, which raises ``ToolError`` on ``isError``: agent code
written against it sees exactly those exceptions, so ``raised`` records them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

HASH_REF = re.compile(r"^\$hash\((.*)\)$", re.DOTALL)
TIMEOUT_S = 300


def content_hash(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode("utf-8")).hexdigest()


def resolve(value: Any) -> Any:
    if isinstance(value, str):
        found = HASH_REF.match(value)
        return content_hash(found.group(1)) if found else value
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def _text(blocks: Any) -> str:
    return "\n".join(getattr(b, "text", f"[{getattr(b, 'type', '?')}]") for b in blocks)


async def run(client: Client, step: dict[str, Any]) -> dict[str, Any]:
    op = step["op"]
    if op == "tools/list":
        tools = await client.list_tools()
        return {"text": json.dumps(sorted(t.name for t in tools))}
    if op == "prompts/list":
        prompts = await client.list_prompts()
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
        try:
            result = await client.call_tool(step["tool"], resolve(step["args"]), timeout=TIMEOUT_S)
        except ToolError as exc:
            return {"isError": True, "raised": True, "text": str(exc)}
        return {"isError": bool(result.is_error), "raised": False, "text": _text(result.content)}
    if op == "resources/list":
        resources = await client.list_resources()
        return {"text": json.dumps([[str(r.uri), r.name, r.mime_type] for r in resources])}
    if op == "resources/read":
        contents = await client.read_resource(step["uri"])
        return {
            "text": "\n".join(f"{c.mime_type or ''}\n{getattr(c, 'text', '')}" for c in contents)
        }
    if op == "prompts/get":
        got = await client.get_prompt(step["name"], step.get("args"))
        body = [f"{m.role}: {getattr(m.content, 'text', '')}" for m in got.messages]
        return {"text": "\n".join([got.description or "", *body])}
    raise ValueError(f"unknown op {op}")


async def main(spec: dict[str, Any]) -> None:
    transport = StdioTransport(command=spec["command"], args=spec["args"], env=spec["env"])
    out: dict[str, Any] = {"steps": []}
    async with Client(transport, timeout=TIMEOUT_S, init_timeout=TIMEOUT_S) as client:
        # Era-neutral: a modern server answers server/discover, not initialize.
        info = client.server_info
        out["server"] = {"name": info.name if info else None}
        for step in spec["steps"]:
            try:
                out["steps"].append({"id": step["id"], **(await run(client, step))})
            except Exception as exc:  # a protocol error is a result of the session too
                out["steps"].append({"id": step["id"], "error": str(exc)})
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        asyncio.run(main(json.load(fh)))
