"""Run ``memhub bridge`` on this process's stdio and write its exit code to ``argv[1]``.

The MCP SDK's stdio client starts the server process itself and never reports how it ended;
the end-to-end tests start the bridge through this script so that they can assert that it
exited with code 0 once its client closed stdin. If the SDK has to kill the process tree
(the bridge did not exit within its 2 s), no code is written and the test fails too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    code = subprocess.call([sys.executable, "-m", "memhub", "bridge"])
    Path(sys.argv[1]).write_text(str(code), encoding="ascii")
    return code


if __name__ == "__main__":
    sys.exit(main())
