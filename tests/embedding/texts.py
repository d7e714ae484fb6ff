"""A deterministic corpus of >= 256 mixed texts for comparing the two embedding backends."""

from __future__ import annotations

import random

_WORDS = (
    "deploy cluster backup postgres latency cache invoice recipe garden meeting python rust "
    "kernel network token memory search vector daemon bridge writer reader schema migration "
    "cinnamon butter crust violin concert mountain river holiday budget quarterly roadmap"
).split()
_UNICODE = (
    "Ünïcödé façade naïve café résumé",
    "日本語のテキストと漢字の混在",
    "中文测试：向量数据库的内存",
    "Ελληνικά και Кириллица вместе",
    "العربية من اليمين إلى اليسار",
    "emoji 🎉🚀🔥 and flags 🇫🇷🇯🇵",
    "combining marks: e\u0301 a\u0308 o\u0302 and zero\u200bwidth",
    "math ∑∫√∞ ≠ ≤ ≥ and arrows → ← ↔",
)
_CODE = (
    "def mean(xs: list[float]) -> float:\n    return sum(xs) / len(xs)\n",
    "SELECT id, content FROM memories WHERE deleted_at IS NULL ORDER BY created_at DESC;",
    'fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!("{:?}", v); }',
    '{"tags": ["ops", "db"], "metadata": {"retries": 3, "ok": true}}',
    "git rebase -i HEAD~3 && git push --force-with-lease origin feature/x",
    "<script>alert('hostile memory')</script> &amp; <b>bold</b>",
)
_EMPTYISH = ("", " ", "\n", "\t\n  ", ".", "?!", "a", "0", "🎉", "   leading and trailing   ")


def mixed_texts(count: int = 288, seed: int = 10) -> list[str]:
    """Short, long (> 256 tokens, so truncation matters), unicode, code and empty-ish texts."""
    rng = random.Random(seed)
    texts: list[str] = [*_EMPTYISH, *_UNICODE, *_CODE]
    while len(texts) < count:
        kind = len(texts) % 6
        if kind == 0:
            texts.append(" ".join(rng.choices(_WORDS, k=rng.randint(1, 4))))
        elif kind == 1:
            texts.append(" ".join(rng.choices(_WORDS, k=rng.randint(8, 40))).capitalize() + ".")
        elif kind == 2:
            # Several hundred words: well past the 256-token truncation.
            texts.append(" ".join(rng.choices(_WORDS, k=rng.randint(220, 700))))
        elif kind == 3:
            texts.append(rng.choice(_UNICODE) + " " + " ".join(rng.choices(_WORDS, k=12)))
        elif kind == 4:
            texts.append(rng.choice(_CODE) * rng.randint(1, 30))
        else:
            texts.append(rng.choice(_EMPTYISH) + rng.choice(_WORDS) * rng.randint(1, 50))
    return texts
