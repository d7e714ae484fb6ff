"""Real child processes for the embedding tests, optionally unable to import some packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Installed as ``sitecustomize`` of a child: the listed top-level packages become invisible to
#: the path finder, so ``import`` raises ModuleNotFoundError and ``importlib.util.find_spec``
#: returns None, exactly as if they were not installed (a real process, no mock of what it runs).
BLOCKER = """
import os, sys
from importlib.machinery import PathFinder

_HIDDEN = frozenset(os.environ["MEMHUB_TEST_BLOCK"].split(","))


class _HidingPathFinder(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.partition(".")[0] in _HIDDEN:
            return None
        return super().find_spec(fullname, path, target)


sys.meta_path[:] = [_HidingPathFinder if f is PathFinder else f for f in sys.meta_path]
"""


def write_blocker(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(BLOCKER)
    return directory


def child_env(*, blocker: Path | None = None, block: str = "", **extra: str) -> dict[str, str]:
    """The test's environment for a child, with ``block`` (comma-separated) made unimportable."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    env.pop("MEMHUB_TEST_BLOCK", None)
    if block:
        assert blocker is not None
        env["PYTHONPATH"] = os.pathsep.join([str(blocker), *filter(None, [env.get("PYTHONPATH")])])
        env["MEMHUB_TEST_BLOCK"] = block
    return env


def run_python(
    code: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_memhub(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
