"""Seeded, pure workload generation: realistic memory texts and an op mix per client.

The same seed and client id always give the same sequence, so a failing run can be replayed.
Texts vary in length and topic; a few are exact repeats of the client's earlier texts (which
the daemon must answer ``duplicate``) and a few are near copies (which semantic dedup may or may
not reject, both being correct).

With ``shared_rate`` some stores draw from one sequence of *shared* texts that depends on the
seed only: every client stores shared text 0, then 1, 2, ... at its own pace, so each shared
text races from every client at about the same moment (from several machines in a team run),
and exactly one of them may be told ``stored``. Shared texts are never updated or deleted, so
whether one must exist depends on no ordering between clients.
"""

from __future__ import annotations

import random
import string
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
#: Per topic: the words searches are made of, and sentence templates for memories. A slot
#: ``{name}`` is filled from ``SLOTS`` (or a number/version/person generator below).
TOPICS: Final = {
    "ops": "deploy rollback cluster staging canary pager alert runbook dns failover backup",
    "python": "typing ruff mypy pytest fixture trio nursery asyncio packaging wheel venv",
    "data": "postgres index vacuum replica query plan migration schema partition redis",
    "frontend": "react vite bundle route hydration css layout accessibility component",
    "process": "sprint retro planning estimate review release branch changelog incident",
    "people": "onboarding mentor interview feedback offsite hiring handover vacation",
}
#: A memory sentence is ``subject + predicate + tail``, each part drawn independently from its
#: topic's pool and its ``{slots}`` filled from ``SLOTS`` or the generators of ``_slot``. Fixed
#: prose shared by two texts is what makes a sentence model call them duplicates; independent
#: parts leave two sentences of one topic sharing a part or two at most, as real notes do.
GRAMMAR: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]] = {
    "ops": (
        (
            "The {service} rollout",
            "Our canary in {region}",
            "The pager rotation",
            "The {store} failover drill",
            "DNS for {host}",
            "The nightly backup of {store}",
            "Terraform for the {region} VPC",
            "Log retention on {service}",
            "The {metric} alert",
            "Staging for {service}",
        ),
        (
            "stalled at {pct}% while {metric} climbed",
            "paged {person} {n} times",
            "took {n} minutes end to end",
            "now uses a TTL of {n} seconds",
            "needs a manual approval from {person}",
            "was rolled back to build {n}",
            "lost {n} minutes to {wait}",
            "drops to {n} days of history",
            "fires on {symptom}",
            "shares {store} with production",
        ),
        (
            "after {fix}",
            "until the {day} change freeze",
            "in {region} only",
            "since the {version} upgrade",
            "because {reason}",
            "per the runbook {person} wrote",
            "at {clock} UTC",
            "and nobody noticed for {n} hours",
            "during {job}",
            "so keep {person} in the loop",
        ),
    ),
    "python": (
        (
            "The {lib} {version} upgrade",
            "mypy --strict on {module}",
            "The fixture {fixture}",
            "ruff rule {rule}",
            "Our trio nursery in {module}",
            "The wheel build for {lib}",
            "The retry helper in {module}",
            "Type stubs for {lib}",
            "A property test of {module}",
            "The CI venv cache",
        ),
        (
            "breaks imports on Python 3.{minor}",
            "reports {n} new errors",
            "leaks a {resource} per test",
            "is switched off for {module}",
            "replaced {antipattern}",
            "falls back to {fallback} on {platform}",
            "caps the total wait at {n} seconds",
            "changed {behaviour}",
            "found {symptom} with inputs of length {n}",
            "saves {n} seconds per run",
        ),
        (
            "so pin {lib}=={version}",
            "because {reason}",
            "according to {person}",
            "until {lib} ships a fix",
            "when run under pytest -x",
            "on {platform} runners",
            "which {person} traced with py-spy",
            "since {day}",
            "in {n} of our repos",
            "unless the lock file changes",
        ),
    ),
    "data": (
        (
            "The {table} table",
            "Autovacuum on {table}",
            "Replica {replica} in {region}",
            "Migration {migration}",
            "Redis key {key}",
            "The query plan for {query}",
            "The backfill of {column}",
            "The {service} connection pool",
            "Row-level security on {table}",
            "The foreign key from {table} to users",
        ),
        (
            "scans {n}k rows without an index on {column}",
            "lags {n} hours behind",
            "trails the primary by {n} seconds",
            "adds {column} without a table rewrite",
            "holds {what} for {n} minutes",
            "flipped to a nested loop",
            "runs in batches of {n}k rows",
            "is sized at {n} connections per pod",
            "blocks the {feature} launch",
            "left {n} orphan rows behind",
        ),
        (
            "during {job}",
            "once {table} passed {n}M rows",
            "so raise the cost limit to {limit}",
            "and {person} owns the fix",
            "because {reason}",
            "since migration {migration}",
            "in {region} only",
            "at {clock} every night",
            "until partitioning lands",
            "which {person} found in the slow log",
        ),
    ),
    "frontend": (
        (
            "The {page} page",
            "Hydration on {page}",
            "{widget}",
            "Vite {version}",
            "The {page} layout",
            "Route {route}",
            "The {page} form",
            "Lighthouse on {page}",
            "Dark mode in {widget}",
            "The error boundary around {widget}",
        ),
        (
            "ships a {n} kB bundle",
            "mismatches because of {cause}",
            "reads '{garbage}' to screen readers",
            "broke {plugin}",
            "overflows below {n}px",
            "prefetches {what} on every visit",
            "loses its state on back navigation",
            "scores {n} after the font change",
            "fails WCAG AA contrast",
            "swallows {cause}",
        ),
        (
            "so lazy-load {widget}",
            "until {person} patches it",
            "on Safari only",
            "since release {version}",
            "because {reason}",
            "per the review by {person}",
            "and {theme} has the fix",
            "in the {page} flow",
            "for {n}% of sessions",
            "after the {feature} work",
        ),
    ),
    "process": (
        (
            "Release {version}",
            "The sprint {n} retro",
            "Estimates for {feature}",
            "The {incident} review",
            "Branch {branch}",
            "The planning rule on {kind} work",
            "Changelog entries",
            "Demo day",
            "The definition of done for {feature}",
            "Bug triage",
        ),
        (
            "is cut on {day}",
            "concluded that {finding}",
            "were off by {n}x",
            "needs a timeline from {person}",
            "must be rebased onto main",
            "caps it at {n} points",
            "need one user-facing sentence",
            "moves to {day}",
            "includes a runbook and a dashboard",
            "closes anything older than {n} days",
        ),
        (
            "and we agreed to {action}",
            "because {reason}",
            "as {person} proposed",
            "starting {day}",
            "for {feature}",
            "before it touches {module}",
            "with sign-off from {person}",
            "after {incident}",
            "every {n} weeks",
            "unless {person} objects",
        ),
    ),
    "people": (
        (
            "{person}",
            "The interview loop for {role}",
            "{person}'s vacation",
            "Feedback for {person}",
            "The {city} offsite",
            "The handover to {other}",
            "The {role} opening",
            "Pager swaps in {area}",
            "The lunch budget",
            "Pairing in {area}",
        ),
        (
            "starts on {day} with {other} as mentor",
            "has {n} candidates left",
            "runs {n} days from {day}",
            "praises the work on {area}",
            "is budgeted at {n} per head",
            "covers the {service} on-call",
            "closes on {day}",
            "rotates every {n} days",
            "was raised to {n} per quarter",
            "prefers async updates in {channel}",
        ),
        (
            "and {other} covers {area}",
            "so ask {other} first",
            "in {city}",
            "as agreed with {person}",
            "because {reason}",
            "after the {feature} launch",
            "until {day}",
            "with {other} as backup",
            "for the {role} track",
            "per the notes in {channel}",
        ),
    ),
}
_PREFIXES: Final = (
    "billing auth search ledger media inventory notify export import sync report gateway "
    "profile checkout pricing catalog audit session upload webhook"
).split()
_SUFFIXES: Final = "api worker indexer proxy cron service queue store bridge scheduler".split()
SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "region": ("eu-west", "us-east", "ap-south", "eu-central", "us-west", "sa-east"),
    "metric": ("p99 latency", "error rate", "queue depth", "CPU steal", "GC pauses", "5xx"),
    "secret": ("API token", "TLS key", "database password", "webhook secret", "SSH key"),
    "symptom": (
        "connections piled up",
        "the disk filled with logs",
        "a cert had expired",
        "the pool ran dry",
        "a retry storm",
        "clock skew on one node",
        "an OOM kill loop",
    ),
    "fix": (
        "a restart",
        "raising the pool size",
        "a config rollback",
        "draining one node",
        "a hotfix to the retry budget",
        "purging the cache",
        "pinning the old image",
    ),
    "store": ("postgres", "redis", "the object store", "the search cluster", "kafka", "etcd"),
    "wait": ("DNS", "a manual approval", "the replica to catch up", "cache warm-up", "paging"),
    "host": ("api.internal", "status.example", "auth.example", "files.example", "mx.example"),
    "module": (
        "storage/writes.py",
        "the CLI",
        "the bridge",
        "transport/server.py",
        "the reader pool",
        "the importer",
        "the scheduler",
        "config loading",
        "the webhook handler",
    ),
    "lib": ("numpy", "attrs", "cattrs", "httpx", "pydantic", "trio", "orjson", "sqlalchemy"),
    "antipattern": ("bare threads", "a global event loop", "sleep-polling", "callbacks"),
    "fixture": ("tmp_db", "running_daemon", "fake_clock", "http_server", "model_cache"),
    "resource": ("file handle", "socket", "thread", "temp directory", "subprocess"),
    "behaviour": (
        "the default timeout",
        "how None is serialised",
        "the import path",
        "the error type on a closed stream",
        "its logging format",
    ),
    "rule": ("B008", "PERF401", "SIM117", "ANN401", "E501", "RUF012"),
    "reason": (
        "the generated code is vendored",
        "it fights the formatter",
        "the API predates it",
        "we measured no gain",
        "the dependency graph was wrong",
        "nobody owned the spike",
    ),
    "platform": ("musl", "Windows ARM", "macOS x86", "Python 3.13 free-threaded"),
    "fallback": ("a pure-Python path", "the slow codec", "an older pin", "no acceleration"),
    "table": ("orders", "events", "invoices", "sessions", "audit_log", "payments", "users"),
    "column": ("tenant_id", "status", "external_ref", "region", "plan", "owner_id"),
    "query": ("the daily report", "the search endpoint", "the export job", "the admin list"),
    "limit": ("2000", "4000", "10000"),
    "replica": ("r1", "r2", "analytics", "standby-b"),
    "job": ("the nightly export", "reindexing", "the billing run", "a bulk import"),
    "migration": ("0042", "0057", "0063", "0071", "0088"),
    "key": ("session:*", "rate:*", "feature-flags", "cart:*", "otp:*"),
    "what": ("session tokens", "rate-limit counters", "rendered fragments", "search results"),
    "page": ("checkout", "settings", "dashboard", "signup", "invoice", "search results"),
    "widget": ("the date picker", "the chart panel", "the sidebar", "the modal", "the table"),
    "cause": ("a timezone-dependent date", "Math.random ids", "a locale format", "window size"),
    "garbage": ("button button", "unlabelled graphic", "clickable", "div"),
    "plugin": ("the SVG loader", "the legacy polyfill", "our i18n plugin", "the PWA plugin"),
    "route": ("/reports", "/settings/team", "/search", "/billing/history"),
    "theme": ("the design system", "the brand kit", "the dark theme", "tokens.json"),
    "feature": ("bulk export", "SSO", "audit trail", "usage billing", "offline mode", "search v2"),
    "finding": (
        "reviews waited two days",
        "the flaky test cost a day",
        "scope crept mid-sprint",
        "on-call interrupted planning",
        "demo prep took too long",
    ),
    "action": (
        "pair on reviews",
        "quarantine flaky tests",
        "freeze scope on Wednesday",
        "rotate the interrupt role",
        "record demos ahead",
    ),
    "incident": ("INC-2231", "INC-2240", "INC-2258", "INC-2263", "INC-2279"),
    "branch": ("feature/export", "fix/retry-budget", "chore/deps", "feature/sso"),
    "kind": ("maintenance", "unplanned", "research", "support"),
    "role": ("staff engineer", "SRE", "frontend lead", "data engineer", "designer"),
    "area": ("the data platform", "payments", "search", "the mobile app", "infrastructure"),
    "city": ("Lisbon", "Krakow", "Montreal", "Osaka", "Nairobi", "Tallinn"),
    "channel": ("#eng-updates", "the team thread", "the weekly doc", "#standup"),
}
PEOPLE: Final = (
    "Ana Bruno Chen Dara Emeka Farah Goran Hana Ivo Jia Kemal Lena Mateo Nia Omar Priya "
    "Quinn Rosa Sven Tariq Uma Viktor Wen Ximena Yusuf Zoe"
).split()
DAYS: Final = "Monday Tuesday Wednesday Thursday Friday".split()
MONTHS: Final = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
#: Connectives between the sentences of one memory.
LINKS: Final = ("Also:", "Note that", "Context:", "Follow-up:", "Separately,", "Why:")


@attrs.frozen(kw_only=True)
class Op:
    """One operation to perform; ``target`` indexes the client's own stored texts."""

    kind: OpKind
    text: str = ""
    tags: tuple[str, ...] = ()
    target: int = -1
    expect_duplicate: bool = False
    shared: bool = False  # one of the texts every client stores (see the module docstring)


@attrs.define
class Workload:
    """The op sequence of one client."""

    seed: int
    client: int
    mix: dict[OpKind, int] = attrs.field(factory=lambda: dict(DEFAULT_MIX))
    exact_dup_rate: float = 0.05
    near_dup_rate: float = 0.03
    shared_rate: float = 0.0
    _rng: random.Random = attrs.field(init=False)
    _stored: int = attrs.field(init=False, default=0)
    _shared: int = attrs.field(init=False, default=0)
    _texts: list[str] = attrs.field(init=False, factory=list)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:{self.client}")

    def text(self, n: int) -> str:
        """A fresh memory text: a topic, varied length, unique to (seed, client, n).

        One to four sentences of the topic (or of another, as real notes wander), each built
        from independent parts filled from slot pools, numbers and names. Two texts are then as
        alike as two real notes on one topic, not near copies: the semantic dedup (cosine >=
        0.85) must only reject the near copies the workload means to send (``near_dup_rate``).
        """
        return self._memory(n)[1]

    def _memory(self, n: int, rng: random.Random | None = None) -> tuple[str, str]:
        rng = rng or self._rng
        topic = rng.choice(sorted(TOPICS))
        used: set[str] = set()
        sentences = [self._sentence(topic, used, rng)]
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            other = topic if rng.random() < 0.7 else rng.choice(sorted(TOPICS))
            sentences.append(f"{rng.choice(LINKS)} {self._sentence(other, used, rng)}")
        return topic, " ".join(sentences) + f" [ref c{self.client}-{n}]"

    def shared_text(self, n: int) -> str:
        """Shared text ``n``: the same for every client of this seed."""
        _, text = self._memory(n, random.Random(f"{self.seed}:shared:{n}"))
        return text.replace(f" [ref c{self.client}-{n}]", f" [ref shared-{n}]")

    def _sentence(self, topic: str, used: set[str], rng: random.Random) -> str:
        """``subject predicate tail.`` of ``topic``, repeating no part already in this memory."""
        parts = []
        for pool in GRAMMAR[topic]:
            part = rng.choice([p for p in pool if p not in used])
            used.add(part)
            values = {name: self._slot(name, rng) for name in _slot_names(part)}
            parts.append(part.format(**values))
        sentence = " ".join(parts)
        return sentence[0].upper() + sentence[1:] + "."

    def _slot(self, name: str, rng: random.Random) -> str:
        if name in SLOTS:
            return rng.choice(SLOTS[name])
        if name in ("person", "other"):
            return rng.choice(PEOPLE)
        if name == "service":
            return f"{rng.choice(_PREFIXES)}-{rng.choice(_SUFFIXES)}"
        if name == "day":
            return f"{rng.choice(DAYS)} {rng.choice(MONTHS)} {rng.randint(1, 28)}"
        if name == "clock":
            return f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"
        if name == "version":
            return f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 12)}"
        if name == "minor":
            return str(rng.randint(9, 14))
        if name == "pct":
            return str(rng.choice((1, 2, 5, 10, 25, 50)))
        return str(rng.randint(2, 400))  # n: counts, sizes, durations

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
        if self.shared_rate and rng.random() < self.shared_rate:
            text = self.shared_text(self._shared)
            self._shared += 1
            return Op(kind="store", text=text, tags=("shared",), shared=True)
        if self._texts and rng.random() < self.exact_dup_rate:
            previous = rng.choice(self._texts)
            return Op(kind="store", text=previous.upper(), expect_duplicate=True)
        if self._texts and rng.random() < self.near_dup_rate:
            previous = rng.choice(self._texts)
            return Op(kind="store", text=previous + " (again)")
        topic, text = self._memory(self._stored)
        self._stored += 1
        self._texts.append(text)
        return Op(kind="store", text=text, tags=(topic, f"client{self.client}"))

    def stored_text(self, index: int) -> str:
        return self._texts[index]


def _slot_names(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]
