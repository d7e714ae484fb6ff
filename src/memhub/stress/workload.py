"""Seeded, pure workload generation: realistic memory texts and an op mix per client.

The same seed and client id always give the same sequence, so a failing run can be replayed.
Texts vary in length and topic; a few are exact repeats of the client's earlier texts (which
the daemon must answer ``duplicate``) and a few are near copies (which semantic dedup may or may
not reject, both being correct).
"""

from __future__ import annotations

import random
from typing import Final, Literal

import attrs

OpKind = Literal["store", "search", "list", "update", "delete"]

#: Default op mix (weights), write-heavy enough to exercise the writer.
DEFAULT_MIX: Final[dict[OpKind, int]] = {
    "store": 50,
    "search": 30,
    "list": 8,
    "update": 7,
    "delete": 5,
}
TOPICS: Final = {
    "ops": "deploy rollback cluster staging canary pager alert runbook dns failover backup",
    "python": "typing ruff mypy pytest fixture trio nursery asyncio packaging wheel venv",
    "data": "postgres index vacuum replica query plan migration schema partition redis",
    "frontend": "react vite bundle route hydration css layout accessibility component",
    "process": "sprint retro planning estimate review release branch changelog incident",
    "people": "onboarding mentor interview feedback offsite hiring handover vacation",
}
FILLER: Final = (
    "because after before during every usually always never sometimes remember that we "
    "decided agreed noticed learned prefer avoid should must the team our new old main"
).split()


@attrs.frozen(kw_only=True)
class Op:
    """One operation to perform; ``target`` indexes the client's own stored texts."""

    kind: OpKind
    text: str = ""
    tags: tuple[str, ...] = ()
    target: int = -1
    expect_duplicate: bool = False


@attrs.define
class Workload:
    """The op sequence of one client."""

    seed: int
    client: int
    mix: dict[OpKind, int] = attrs.field(factory=lambda: dict(DEFAULT_MIX))
    exact_dup_rate: float = 0.05
    near_dup_rate: float = 0.03
    _rng: random.Random = attrs.field(init=False)
    _stored: int = attrs.field(init=False, default=0)
    _texts: list[str] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:{self.client}")

    def text(self, n: int) -> str:
        """A fresh memory text: a topic, varied length, unique to (seed, client, n)."""
        rng = self._rng
        topic = rng.choice(sorted(TOPICS))
        words = TOPICS[topic].split()
        length = rng.choice((8, 12, 20, 35, 60))
        body = " ".join(rng.choice(words if rng.random() < 0.6 else FILLER) for _ in range(length))
        return f"[c{self.client}-{n}] {topic}: {body}."

    def next_op(self) -> Op:
        rng = self._rng
        kinds = list(self.mix)
        kind = rng.choices(kinds, weights=[self.mix[k] for k in kinds])[0]
        if kind in ("update", "delete") and not self._texts:
            kind = "store"
        if kind == "store":
            return self._store()
        if kind == "search":
            topic = rng.choice(sorted(TOPICS))
            query = " ".join(rng.sample(TOPICS[topic].split(), 3))
            tags = (topic,) if rng.random() < 0.3 else ()
            return Op(kind="search", text=query, tags=tags)
        if kind == "list":
            return Op(kind="list", tags=(rng.choice(sorted(TOPICS)),) if rng.random() < 0.5 else ())
        target = rng.randrange(len(self._texts))
        if kind == "update":
            return Op(kind="update", target=target, tags=(f"rev{rng.randrange(100)}",))
        return Op(kind="delete", target=target)

    def _store(self) -> Op:
        rng = self._rng
        if self._texts and rng.random() < self.exact_dup_rate:
            previous = rng.choice(self._texts)
            return Op(kind="store", text=previous.upper(), expect_duplicate=True)
        if self._texts and rng.random() < self.near_dup_rate:
            previous = rng.choice(self._texts)
            return Op(kind="store", text=previous + " (again)")
        text = self.text(self._stored)
        self._stored += 1
        self._texts.append(text)
        topic = text.split("] ", 1)[1].split(":", 1)[0]
        return Op(kind="store", text=text, tags=(topic, f"client{self.client}"))

    def stored_text(self, index: int) -> str:
        return self._texts[index]
