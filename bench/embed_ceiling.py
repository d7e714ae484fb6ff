"""The embedding ceiling: texts/s of the one model at batch 1 and batch 32, same settings as
the daemon (torch threads = cores, passive OpenMP waits).

Usage: python bench/embed_ceiling.py --texts 256 [--backend onnx|sentence-transformers]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_figures import make_text

from memhub.embedding import create_embedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--backend", default="onnx", choices=("onnx", "sentence-transformers"))
    args = parser.parse_args()
    embedder = create_embedder(
        "model", "all-MiniLM-L6-v2", os.cpu_count() or 2, backend=args.backend
    )
    rng = random.Random(5)
    texts = [make_text(rng, i) for i in range(args.texts)]
    embedder.encode(texts[:8])  # warm-up
    result: dict[str, object] = {"backend": args.backend}
    for batch in (1, 32):
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            embedder.encode(texts[i : i + batch])
        result[f"batch{batch}_texts_per_s"] = round(len(texts) / (time.perf_counter() - started), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
