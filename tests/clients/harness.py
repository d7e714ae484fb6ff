"""Running the scripted agent session through real third-party MCP clients.

Two independent clients drive the same session (``session.json``):

* the official TypeScript SDK client (``@modelcontextprotocol/sdk``, pinned in
  ``ts/package.json`` and ``ts/package-lock.json``), installed with ``npm ci`` into ``ts/`` and
  run with the machine's Node.js;
* FastMCP's client (``fastmcp`` from PyPI, pinned below), installed into its own virtualenv
  under ``.cache/clients/`` because its dependency pins are its own.

Each runs against ``memhub bridge`` and against real mcp-memory-service 12.4 (a throwaway
virtualenv, see ``tests/compat/mms_env.py``). :func:`normalize` removes what legitimately
differs between two runs (times, session ids, sizes); :func:`compare` reports every step
whose text or ``isError`` differs and that ``allowed_differences.json`` does not list, and
every listed difference that no longer occurs.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients import fixtures

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TS_DIR = HERE / "ts"
SESSION = HERE / "session.json"
ALLOWED = HERE / "allowed_differences.json"
FASTMCP_VERSION = "4.1.6"
UPSTREAM_VERSION = "12.4.0"
SESSION_TIMEOUT_S = 900

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
_EPOCH = re.compile(r"\b1[6-9]\d{8}(?:\.\d+)?\b")
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# A time cut short by an excerpt ("2026-12-03T17:45:..." in memory_quality's top-10 lists).
_ISO_CUT = re.compile(r"\d{4}-\d{2}-\d{2}T[\d:]*(?=\.\.\.)")
_SECONDS = re.compile(r"(Processing time: )\d+\.\d+( seconds)")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def cache_dir() -> Path:
    return Path(os.environ.get("MEMHUB_CLIENTS_CACHE", ROOT / ".cache" / "clients"))


def _locked(name: str) -> Any:
    cache_dir().mkdir(parents=True, exist_ok=True)
    lock = open(cache_dir() / f".{name}.lock", "w")  # noqa: SIM115 (held by the caller)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def ensure_ts_client() -> Path:
    """``ts/session.mjs`` with its pinned SDK installed (``npm ci``, once)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise FileNotFoundError("node and npm are needed for the TypeScript SDK client")
    with _locked("ts"):
        installed = TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
        wanted = json.loads((TS_DIR / "package.json").read_text())["dependencies"]
        if (
            not installed.exists()
            or json.loads(installed.read_text())["version"] != wanted["@modelcontextprotocol/sdk"]
        ):
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=TS_DIR,
                check=True,
                capture_output=True,
                timeout=900,
                env={**os.environ, "npm_config_loglevel": "error"},
            )
    return TS_DIR / "session.mjs"


def ensure_fastmcp() -> Path:
    """The Python of a virtualenv holding the pinned FastMCP (built once)."""
    venv = cache_dir() / f"fastmcp-{FASTMCP_VERSION}"
    python = venv / "bin" / "python"
    with _locked("fastmcp"):
        if not (venv / ".complete").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"fastmcp=={FASTMCP_VERSION}"],
                check=True,
                timeout=1800,
            )
            (venv / ".complete").write_text(FASTMCP_VERSION)
    return python


def load_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(SESSION.read_text())["steps"]
    return steps


def run_session(client: str, server: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run the session with ``client`` (``"ts"`` or ``"fastmcp"``) against ``server``.

    ``server`` is ``{command, args, env}`` for a stdio MCP server (run with ``HOME`` in the
    work directory, where :mod:`fixtures` puts the transcript), or ``{url, headers}``.
    """
    home = fixtures.write(work)
    if "env" in server:
        server = {**server, "env": {**server["env"], **home}}
    spec = work / f"spec-{client}.json"
    steps = fixtures.substitute(load_steps(), work)
    spec.write_text(json.dumps({**server, "steps": steps}))
    if client == "ts":
        node = shutil.which("node")
        assert node is not None
        command = [node, str(ensure_ts_client()), str(spec)]
    else:
        command = [str(ensure_fastmcp()), str(HERE / "fastmcp_session.py"), str(spec)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=SESSION_TIMEOUT_S, cwd=work
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {client} session failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for step in result["steps"]:
        for key in ("text", "error"):
            if isinstance(step.get(key), str):
                text = step[key].replace(str(work.resolve()), "<WORK>")
                step[key] = text.replace(str(work), "<WORK>")
    return result


def normalize(text: str) -> str:
    """The text with times, epochs, durations and uuids replaced by placeholders."""
    text = _ISO.sub("<ISO>", text)
    text = _ISO_CUT.sub("<ISO>", text)
    text = _SECONDS.sub(r"\1<S>\2", text)
    text = _EPOCH.sub("<EPOCH>", text)
    return _UUID.sub("<UUID>", text)


def _drop_keys(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_drop_keys(v, keys) for v in value]
    return value


def without_keys(text: str, keys: frozenset[str]) -> str:
    """``text`` (JSON, possibly after one header line) with ``keys`` removed at any depth."""
    for head, sep, body in (("", "", text), text.partition("\n")):
        try:
            data = json.loads(body)
        except ValueError:
            continue
        return head + sep + json.dumps(_drop_keys(data, keys), indent=2)
    return text


def key_drops() -> dict[str, frozenset[str]]:
    """``{step id: keys}`` from the ``drop_keys`` entries of the allowed-differences file."""
    drops: dict[str, set[str]] = {}
    for entry in json.loads(ALLOWED.read_text())["drop_keys"]:
        for step in entry["steps"]:
            drops.setdefault(step, set()).update(entry["keys"])
    return {step: frozenset(keys) for step, keys in drops.items()}


def load_allowed() -> dict[str, dict[str, str]]:
    """``{step id: {aspect: reason}}``; aspects are ``text``, ``isError`` and ``error``."""
    entries = json.loads(ALLOWED.read_text())["differences"]
    allowed: dict[str, dict[str, str]] = {}
    for entry in entries:
        allowed.setdefault(entry["step"], {})[entry["aspect"]] = entry["reason"]
    return allowed


def differences(memhub: dict[str, Any], upstream: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{step id: {aspect: "memhub: … / upstream: …"}}`` for every step that differs."""
    found: dict[str, dict[str, str]] = {}
    theirs = {s["id"]: s for s in upstream["steps"]}
    drops = key_drops()
    hash_steps = set(json.loads(ALLOWED.read_text())["time_dependent_hashes"]["steps"])
    for ours in memhub["steps"]:
        other = theirs[ours["id"]]
        for aspect in ("error", "isError", "text"):
            a, b = ours.get(aspect), other.get(aspect)
            if aspect == "text" and a is not None and b is not None:
                if ours["id"] in drops:  # before normalizing: that makes JSON unparsable
                    a = without_keys(a, drops[ours["id"]])
                    b = without_keys(b, drops[ours["id"]])
                a, b = normalize(a), normalize(b)
                if ours["id"] in hash_steps:
                    a, b = _HASH.sub("<HASH>", a), _HASH.sub("<HASH>", b)
            if a != b:
                found.setdefault(ours["id"], {})[aspect] = f"memhub: {a!r}\nupstream: {b!r}"
    return found


def compare(memhub: dict[str, Any], upstream: dict[str, Any]) -> list[str]:
    """Problems: undocumented differences, and documented ones that no longer occur."""
    allowed = load_allowed()
    found = differences(memhub, upstream)
    problems = []
    for step, aspects in found.items():
        for aspect, detail in aspects.items():
            if aspect not in allowed.get(step, {}):
                problems.append(f"undocumented difference in {step} ({aspect}):\n{detail}")
    problems.extend(
        f"documented difference no longer occurs: {step} ({aspect})"
        for step, aspects in allowed.items()
        for aspect in aspects
        if aspect not in found.get(step, {})
    )
    return problems
