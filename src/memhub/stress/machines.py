"""The daemons of a stress run: one "machine" for a SQLite file, several for a team store.

A machine of a team run is what a real second computer would be for memhub: its own HOME, state
directory (where its daemon's lock, runtime file and log live) and machine name, meeting the
others only in the PostgreSQL server. The model cache, the Hugging Face cache and the libpq
password file stay the caller's, so that the machines need no download and no password of their
own; nothing else is shared.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import attrs
import psutil

from memhub.config import model_cache_dir, resolve_store
from memhub.discovery import RuntimeInfo, spawn_daemon, wait_until_ready

READY_TIMEOUT_S = 180.0


@attrs.define
class Machine:
    """One daemon of the run and the environment its clients share with it."""

    name: str
    env: dict[str, str]
    store: str  # what `memhub serve --db` and the clients' `--db` take
    anchor: Path  # the daemon's runtime file sits beside it
    log: Path
    daemon: subprocess.Popen[bytes] | None = None
    info: RuntimeInfo | None = None
    kills: int = 0

    def spawn(self) -> None:
        self.daemon = spawn_daemon(self.store, self.log, self.env)

    def wait_ready(self) -> RuntimeInfo:
        assert self.daemon is not None
        self.info = wait_until_ready(self.anchor, self.daemon, READY_TIMEOUT_S)
        return self.info

    def kill(self) -> None:
        """SIGKILL the daemon (no drain, no commit) and start a new one."""
        assert self.info is not None
        assert self.daemon is not None
        os.kill(self.info.pid, signal.SIGKILL)
        self.kills += 1
        self.daemon.wait()
        self.spawn()
        self.wait_ready()

    def rss_mb(self) -> float:
        if self.info is None:
            return 0.0
        try:
            rss: float = psutil.Process(self.info.pid).memory_info().rss / 2**20
            return rss
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        daemon = self.daemon
        if daemon is None or daemon.poll() is not None:
            return
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                daemon.kill()
            daemon.wait()


def file_machine(db: Path, env: dict[str, str], log: Path) -> Machine:
    """The one daemon of a SQLite run."""
    return Machine(
        name=env.get("MEMHUB_MACHINE_NAME", "this machine"),
        env=env,
        store=str(db),
        anchor=db,
        log=log,
    )


def team_machines(
    count: int, url: str, schema: str, base_env: Mapping[str, str], work: Path
) -> list[Machine]:
    """``count`` machines of the team store ``url`` (schema ``schema``), under ``work``."""
    shared = _shared_caches(base_env)
    machines = []
    for k in range(1, count + 1):
        name = f"machine-{k}"
        home = work / name
        (home / "state").mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {
            **base_env,
            **shared,
            "HOME": str(home),
            "MEMHUB_STATE_DIR": str(home / "state"),
            "MEMHUB_MACHINE_NAME": name,
            "MEMHUB_DATABASE_URL": url,
            "MEMHUB_PG_SCHEMA": schema,
        }
        anchor = resolve_store(env).db_path
        machines.append(
            Machine(name=name, env=env, store=url, anchor=anchor, log=work / f"{name}.log")
        )
    return machines


def _shared_caches(env: Mapping[str, str]) -> dict[str, str]:
    """What a machine with its own HOME would otherwise look for in that HOME."""
    home = Path(env.get("HOME") or Path.home())
    shared = {
        "MEMHUB_MODEL_CACHE": str(model_cache_dir(env)),
        "HF_HOME": env.get("HF_HOME") or str(home / ".cache" / "huggingface"),
    }
    passfile = env.get("PGPASSFILE") or str(home / ".pgpass")
    if Path(passfile).exists():
        shared["PGPASSFILE"] = passfile
    service = env.get("PGSERVICEFILE") or str(home / ".pg_service.conf")
    if Path(service).exists():
        shared["PGSERVICEFILE"] = service
    return shared
