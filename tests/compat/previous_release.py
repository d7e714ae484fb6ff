"""The previous memhub release, installed from this repository's history into a virtualenv.

The upgrade tests run that release's bridge, daemon and CLI next to this checkout's, the way a
Claude app left open across ``pip install -U memhub`` runs the old code against the new daemon.
The release is the tag :data:`PREVIOUS_TAG` (``git archive`` of it, installed with its own
dependencies but without the model extra: the tests use the hash embedder).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Final

from tests.compat.mms_env import _locked

ROOT: Final = Path(__file__).resolve().parents[2]
PREVIOUS_TAG: Final = "v0.1.0"
#: The commit the tag names (CI clones may come without tags).
PREVIOUS_COMMIT: Final = "4b31e683f4b4ed7ce1aae1f42fb21ebdc5e2f8aa"
RECIPE: Final = 1
MARKER: Final = ".memhub-previous.json"


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{PREVIOUS_TAG}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or PREVIOUS_COMMIT


def venv_dir() -> Path:
    return ROOT / ".cache" / "previous-release" / _commit()[:12]


def previous_memhub() -> Path:
    """The ``memhub`` command of the previous release (built once, then cached)."""
    venv = venv_dir()
    command = venv / "bin" / "memhub"
    with _locked(venv.parent / ".lock"):
        marker = venv / MARKER
        try:
            if json.loads(marker.read_text()).get("recipe") == RECIPE and command.exists():
                return command
        except (OSError, ValueError):
            pass
        _build(venv)
    return command


def _build(venv: Path) -> None:
    started = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "release.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", "-o", str(archive), _commit()],
            cwd=ROOT,
            check=True,
        )
        source = Path(tmp) / "src"
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                str(source),
            ],
            check=True,
            timeout=1800,
        )
    (venv / MARKER).write_text(
        json.dumps({"recipe": RECIPE, "commit": _commit(), "seconds": time.monotonic() - started})
    )


if __name__ == "__main__":
    print(previous_memhub())
