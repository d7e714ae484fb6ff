"""How deep a JSON text nests, measured *before* any parser is let at it.

Every JSON parser we use recurses per level, and each has its own ceiling: Python's ``json``
raises :class:`RecursionError` near 1,000 levels (which escapes ``except ValueError`` and once
took the whole bridge down), pydantic's parser gives up near 200, orjson at 1,024. Untrusted text
(a bridge's stdin line, a websocket frame) is therefore measured first with a linear scan that
recurses nowhere, and refused past :data:`MAX_JSON_DEPTH` with one clear message.

The scan drops string literals (a bracket inside a string is text), keeps only the brackets, and
takes the running maximum of opened minus closed containers. Up to the first syntax error, a
parser sees exactly the strings and brackets the scan sees, so the scan never counts fewer levels
than a parser could enter. Past an error it may count more (a malformed text is then refused as
too deep instead of as malformed, which is still a refusal). The work is done by ``re`` and
``bytes.translate`` in C, and the running sum by ``itertools.accumulate`` over the brackets alone,
so a megabyte of text with few brackets costs a millisecond or so.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Final

#: Deepest nesting accepted in any untrusted JSON text (the outermost container is level 1).
#: Metadata may nest 64 levels (``limits.MAX_METADATA_DEPTH``) and no message wraps it in more
#: than five, so every valid message fits with room to spare, and every parser we use copes.
MAX_JSON_DEPTH: Final = 128

# A JSON string literal, escapes included (the unrolled form: runs of plain characters are
# matched in one step, so a long string costs one regex pass and no backtracking).
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
# Openers become +1 and closers -1 once the bytes are read as signed chars.
_AS_STEPS: Final = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
# Brackets summed per step: bounds the work done past the point where the limit was exceeded.
_CHUNK: Final = 1 << 16
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
#: :func:`outline` reads at most this much by default: its loop runs in Python, once per token
#: (about 0.5 µs each, so a 64 KiB text of brackets costs 30 ms).
OUTLINE_MAX_BYTES: Final = 64 * 1024


class TooDeep(ValueError):
    """A JSON text nests deeper than the limit; nothing was parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON nests deeper than {limit} levels (the limit)")
        self.limit = limit


def json_depth(text: str | bytes, stop_after: int = MAX_JSON_DEPTH) -> int:
    """Levels of containers ``text`` opens (a scalar is 0, ``[]`` is 1), without parsing it.

    Counting stops once the depth passes ``stop_after`` (the result is then ``stop_after + 1``).
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    steps = memoryview(_STRING.sub(b"", raw).translate(_AS_STEPS, _NOT_BRACKETS)).cast("b")
    level = deepest = 0
    for start in range(0, len(steps), _CHUNK):
        running = list(accumulate(steps[start : start + _CHUNK], initial=level))
        deepest = max(deepest, max(running))
        if deepest > stop_after:
            return stop_after + 1
        level = running[-1]
    return deepest


def check_json_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`TooDeep` if ``text`` nests deeper than ``limit``; parse nothing.

    Raises:
        TooDeep: the text opens more than ``limit`` nested containers somewhere.
    """
    if json_depth(text, limit) > limit:
        raise TooDeep(limit)


def outline(text: str | bytes, keep: int = 1, max_bytes: int = OUTLINE_MAX_BYTES) -> bytes | None:
    """``text`` with every container nested deeper than ``keep`` levels replaced by ``null``.

    What can still be read of a text refused as too deep: with ``keep=1``, the members of the
    outermost object (a request's ``id`` and ``method``), so that the refusal can name the
    request it answers. The result nests at most ``keep`` levels, so any parser can read it
    (it is malformed where ``text`` is). None when ``text`` is longer than ``max_bytes``.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        return None
    parts: list[bytes] = []
    level = copied = 0
    for token in _TOKEN.finditer(raw):
        bracket = token.group()
        if bracket[:1] == b'"':
            continue  # a string: copied or skipped along with what surrounds it
        if bracket in (b"[", b"{"):
            level += 1
            if level == keep + 1:
                parts += (raw[copied : token.start()], b"null")
        else:
            if level == keep + 1:
                copied = token.end()
            level -= 1
    if level <= keep:
        parts.append(raw[copied:])
    return b"".join(parts)
