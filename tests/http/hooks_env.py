"""mcp-memory-service 12.4.0's claude-hooks, from its published sdist on PyPI (the hooks ship
only there: not in the wheel, not on npm), unpacked once into the clients cache."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from tests.clients import harness

VERSION = "12.4.0"


def ensure_hooks() -> Path:
    """The ``claude-hooks`` directory of the 12.4.0 sdist (downloaded and unpacked once)."""
    root = harness.cache_dir() / f"mms-hooks-{VERSION}"
    hooks = root / "claude-hooks"
    with harness._locked("mms-hooks"):
        if (root / ".complete").exists():
            return hooks
        venv = root / "pip"
        python = venv / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        # pip prepares metadata even to download an sdist; hatchling is its build backend, and
        # without build isolation no other build requirement is fetched (or built from source).
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "hatchling"], check=True, timeout=600
        )
        subprocess.run(
            [
                str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                "--no-build-isolation", f"mcp-memory-service=={VERSION}", "-d", str(root),
            ],
            check=True,
            timeout=1200,
        )  # fmt: skip
        sdist = next(root.glob(f"mcp_memory_service-{VERSION}.tar.gz"))
        prefix = f"mcp_memory_service-{VERSION}/claude-hooks/"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            for member in members:
                member.name = member.name[len(f"mcp_memory_service-{VERSION}/") :]
            tar.extractall(root, members=members, filter="data")
        (root / ".complete").write_text(VERSION)
    return hooks


def hooks_config(hooks: Path, endpoint: str, key: str) -> dict[str, Any]:
    """The bundled config, pointed at ``endpoint`` and made headless (the research recipe)."""
    config: dict[str, Any] = json.loads((hooks / "config.json").read_text())
    config["memoryService"]["http"].update(endpoint=endpoint, apiKey=key)
    config["codeExecution"]["enabled"] = False  # else it imports mcp_memory_service directly
    config["versionCheck"] = {"enabled": False}  # else it asks pypi.org
    config["logging"]["logToFile"] = False
    return config
