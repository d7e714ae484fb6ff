"""The ONNX backend gives sentence-transformers' vectors (the reference), to 1e-5 in cosine."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from memhub.config import DEFAULT_MODEL
from memhub.embedding.onnx_cache import CachedModel
from memhub.embedding.onnx_embedder import build_embedder, configure_tokenizer
from memhub.embedding.sentence_transformers import load_model_embedder

from .texts import mixed_texts

MIN_COSINE = 0.99999


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers(exported: CachedModel) -> None:
    texts = mixed_texts()
    onnx = build_embedder(exported, threads=2)
    reference = load_model_embedder(DEFAULT_MODEL, 2)
    assert onnx.name == reference.name == "sentence-transformers:all-MiniLM-L6-v2"
    assert onnx.dimension == reference.dimension == 384

    # The corpus really exercises truncation: many texts are far longer than 256 tokens.
    tokenizer = Tokenizer.from_str(exported.tokenizer_json)
    manifest = exported.manifest
    configure_tokenizer(tokenizer, manifest.max_seq_length, manifest.pad_id, manifest.pad_token)
    tokenizer.no_padding()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    assert len(texts) >= 256
    assert sum(n == 256 for n in lengths) >= 40
    assert min(lengths) == 2  # "" is just [CLS] [SEP]

    expected = np.concatenate(
        [reference.encode(texts[i : i + 32]) for i in range(0, len(texts), 32)]
    )
    for batch in (1, 32):
        got = np.concatenate(
            [onnx.encode(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        )
        assert got.dtype == np.float32
        assert got.shape == (len(texts), 384)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * expected).sum(axis=1)
        worst = int(np.argmin(cosines))
        assert cosines[worst] >= MIN_COSINE, (batch, texts[worst][:80])


@pytest.mark.slow
def test_empty_batch_and_input_order(exported: CachedModel) -> None:
    onnx = build_embedder(exported, threads=1)
    assert onnx.encode([]).shape == (0, 384)
    texts = ["first memory about cats", "second memory about databases"]
    both = onnx.encode(texts)
    np.testing.assert_allclose(both[::-1], onnx.encode(texts[::-1]), atol=1e-6)
    assert float(both[0] @ both[1]) < 0.9
