"""Export a sentence-transformers model folder to ONNX: ``python -m memhub.embedding.onnx_export``.

Run as a child process by :mod:`memhub.embedding.onnx_cache` so that torch is never imported
into the daemon. It writes ``model.onnx`` and ``tokenizer.json`` into the output directory,
checks the export against sentence-transformers on a few probe texts, and prints one JSON line
describing it (dimension, truncation length, padding, versions) on stdout.

The exporter is torch's own ``torch.onnx.export`` (the TorchScript tracer, ``dynamo=False``),
opset 17, with dynamic batch and sequence axes. The traced graph is the bare transformer
(last hidden state); pooling and normalisation run in numpy at load time, so the graph does
not depend on the pooling settings. The model is loaded with eager attention: the traced
SDPA path bakes shape decisions into the graph, eager attention does not.

Exit codes: 0 done; 3 torch or sentence-transformers cannot be imported; 4 the model is not
one this backend can reproduce (pooling other than mean tokens, no fast tokenizer, or the
probe check failed); 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np

from memhub.embedding.onnx_cache import EXIT_NO_TORCH, EXIT_UNSUPPORTED, MODEL_FILE, TOKENIZER_FILE

OPSET: Final = 17
#: The same bar the test suite sets over 256+ texts; a few probes catch a broken trace.
MIN_PROBE_COSINE: Final = 0.99999
_PROBES: Final = (
    "",
    "ok",
    "The staging cluster is reached through the corporate VPN and the bastion host.",
    "Ünïcödé, 日本語のテキスト, emoji 🎉 and Ελληνικά in one memory",
    "def mean(xs: list[float]) -> float:\n    return sum(xs) / len(xs)  # code\n",
    " ".join(f"token{i} of a long memory about deployments" for i in range(120)),
)
_VERSIONED: Final = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")


class Unsupported(Exception):
    """The model cannot be reproduced by the ONNX backend (exit code 4)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memhub.embedding.onnx_export")
    parser.add_argument("source", type=Path, help="a sentence-transformers model folder")
    parser.add_argument("out", type=Path, help="an existing directory to write into")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # Tracer and deprecation chatter would bury the one line the parent reports.
    warnings.simplefilter("ignore")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        print(f"torch and sentence-transformers are needed to export ({exc})", file=sys.stderr)
        return EXIT_NO_TORCH
    torch.set_num_threads(max(1, args.threads))
    try:
        model = SentenceTransformer(
            str(args.source),
            device="cpu",
            local_files_only=True,
            model_kwargs={"attn_implementation": "eager"},
        )
        info = _export(torch, model, args.out, args.threads)
    except Unsupported as exc:
        print(f"this model cannot run on the ONNX backend: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    print(json.dumps(info), flush=True)
    return 0


def _export(torch: Any, model: Any, out: Path, threads: int) -> dict[str, Any]:
    modules = [type(module).__name__ for module in model]
    if modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]):
        raise Unsupported(f"modules {modules}, expected Transformer, Pooling[, Normalize]")
    pooling_mode = model[1].get_config_dict().get("pooling_mode")
    if pooling_mode not in (None, "mean"):
        raise Unsupported(f"pooling mode {pooling_mode!r}, expected mean")
    if pooling_mode is None and not model[1].get_config_dict().get("pooling_mode_mean_tokens"):
        raise Unsupported("pooling is not mean over tokens")
    tokenizer = model[0].tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise Unsupported("the tokenizer has no fast (tokenizers) version")
    names = [n for n in tokenizer.model_input_names if n != "token_type_ids"]
    if "token_type_ids" in tokenizer.model_input_names:
        names.append("token_type_ids")
    if names[:2] != ["input_ids", "attention_mask"]:
        raise Unsupported(f"tokenizer inputs {tokenizer.model_input_names}")

    class LastHiddenState(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, backbone: Any) -> None:
            super().__init__()
            # A registered submodule: its weights become graph initialisers, not constants.
            self.backbone = backbone

        def forward(self, *inputs: Any) -> Any:
            return self.backbone(**dict(zip(names, inputs, strict=True))).last_hidden_state

    dummy = torch.ones((2, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(model[0].auto_model).eval(),
            tuple(dummy if n != "token_type_ids" else torch.zeros_like(dummy) for n in names),
            str(out / MODEL_FILE),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    tokenizer.backend_tokenizer.save(str(out / TOKENIZER_FILE))
    dimension = int(model.get_embedding_dimension())
    info: dict[str, Any] = {
        "dimension": dimension,
        "max_seq_length": int(model.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id),
        "pad_token": str(tokenizer.pad_token),
        "input_names": names,
        "opset": OPSET,
        "versions": _versions(),
    }
    info["probe_min_cosine"] = _probe(model, out, info, threads)
    return info


def _probe(model: Any, out: Path, info: dict[str, Any], threads: int) -> float:
    """Embed the probe texts with both pipelines, batched and one by one; return the min cos."""
    from memhub.embedding.onnx_embedder import open_embedder

    embedder = open_embedder(
        str(out / MODEL_FILE),
        (out / TOKENIZER_FILE).read_text(encoding="utf-8"),
        input_names=info["input_names"],
        name="probe",
        dimension=info["dimension"],
        max_seq_length=info["max_seq_length"],
        pad_id=info["pad_id"],
        pad_token=info["pad_token"],
        threads=threads,
    )
    texts = list(_PROBES)
    reference = np.asarray(
        model.encode(texts, batch_size=len(texts), normalize_embeddings=True), dtype=np.float32
    )
    batched = embedder.encode(texts)
    single = np.concatenate([embedder.encode([t]) for t in texts])
    worst = float(
        min((batched * reference).sum(axis=1).min(), (single * reference).sum(axis=1).min())
    )
    if worst < MIN_PROBE_COSINE:
        raise Unsupported(f"ONNX vectors differ from sentence-transformers (min cosine {worst})")
    return worst


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


if __name__ == "__main__":
    raise SystemExit(main())
