"""Write mcp-memory-service's MCP tool list as JSON: the golden file of ``test_schemas.py``.

Run it with the Python of a compat virtualenv (see ``mms_env.py``), which holds the release::

    python tests/compat/mms_env.py 10.59.0          # build it once (minutes), prints its Python
    <that python> tests/compat/dump_mms_tools.py > tests/mcp_bridge/golden/mms-10.59.0-tools.json

The tool list is read from the installed ``mcp_memory_service/server_impl.py`` without importing
it (importing would load the model and its web stack): every ``types.Tool(...)`` call in the
source is evaluated as literals, in source order. The output records the release it came from.
Nothing here imports memhub.
"""

from __future__ import annotations

import ast
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "mcp-memory-service"
SOURCE = "mcp_memory_service/server_impl.py"


def tools_in(source: str) -> list[dict[str, Any]]:
    """Name, description, inputSchema and annotations of each ``Tool(...)`` call, in order."""
    tools: list[dict[str, Any]] = []
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Tool"
    ]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))
    for node in calls:
        keywords = {k.arg: k.value for k in node.keywords}
        annotations = keywords.get("annotations")
        tools.append(
            {
                "name": ast.literal_eval(keywords["name"]),
                "description": ast.literal_eval(keywords["description"]),
                "inputSchema": ast.literal_eval(keywords["inputSchema"]),
                "annotations": {
                    k.arg: ast.literal_eval(k.value) for k in getattr(annotations, "keywords", [])
                },
            }
        )
    return tools


def main() -> int:
    try:
        distribution = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        print(f"{DISTRIBUTION} is not installed in {sys.executable}", file=sys.stderr)
        return 1
    path = Path(str(distribution.locate_file(SOURCE)))
    document = {
        "release": distribution.version,
        "source": SOURCE,
        "tools": tools_in(path.read_text(encoding="utf-8")),
    }
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
