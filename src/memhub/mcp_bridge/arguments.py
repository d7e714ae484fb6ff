"""Normalizing tool arguments the way mcp-memory-service reads them, only more leniently.

MCP clients (and models) send what the schema suggests, and also what it does not: numbers as
strings, tags as a CSV or a JSON-array string, ``metadata`` as a JSON string, tags at the top
level of ``memory_store``. Every helper here accepts what MMS accepts plus those near misses,
and raises :class:`ArgumentError` with a message that names the argument otherwise. The tool
layer decides which ``Error…`` prefix the message gets, because MMS words that per tool.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any, TypeVar

from memhub.config import FALSE_WORDS, TRUE_WORDS
from memhub.domain import tags
from memhub.domain.timestamps import parse_date_bound
from memhub.protocol.jsondepth import TooDeep, check_json_depth

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.protocol.messages import SearchMode, TagMatch


T = TypeVar("T")


class ArgumentError(ValueError):
    """A tool argument cannot be used; ``str(exc)`` is the user-facing explanation."""


def normalize_tags(value: object) -> list[str]:
    """Tags as MMS's ``normalize_tags`` makes them (:func:`memhub.domain.tags.normalize_tags`).

    Raises:
        ArgumentError: the value is not a list or a string.
    """
    return merge_tags(value)


def merge_tags(*values: object) -> list[str]:
    """The tags of several arguments, in order, normalized as one list.

    Raises:
        ArgumentError: a value is not a list or a string.
    """
    try:
        return tags.merge_tags(*values)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None


def parse_date(value: object, field: str) -> float | None:
    """A ``YYYY-MM-DD`` (or any ISO 8601) date as an epoch, like MMS: naive means local time.

    ``datetime.fromisoformat("2024-01-01").timestamp()`` is local midnight, which is what MMS
    compares ``created_at`` against. An epoch number is accepted as is.

    Raises:
        ArgumentError: with MMS's text ``Invalid <field> date format: <v>. Use YYYY-MM-DD``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_date_bound(value)
        except ValueError:
            pass
    raise ArgumentError(f"Invalid {field} date format: {value}. Use YYYY-MM-DD")


def as_int(
    value: object,
    field: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    clamp: bool = False,
) -> int:
    """An integer argument; integral floats and numeric strings are accepted.

    Out-of-range values are clamped when ``clamp`` is set (for limits where a too-large value
    plainly means "as many as possible"), otherwise rejected.
    """
    if value is None or value == "":
        return default
    number: int
    if isinstance(value, bool):
        raise ArgumentError(f"{field} must be a whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    else:
        raise ArgumentError(f"{field} must be a whole number, got {value!r}")
    if minimum is not None and number < minimum:
        if not clamp:
            raise ArgumentError(f"{field} must be at least {minimum}, got {number}")
        number = minimum
    if maximum is not None and number > maximum:
        if not clamp:
            raise ArgumentError(f"{field} must be at most {maximum}, got {number}")
        number = maximum
    return number


def as_float(value: object, field: str, default: float) -> float:
    """A number argument; numeric strings are accepted."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ArgumentError(f"{field} must be a number, got {value!r}") from None
    else:
        raise ArgumentError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(result):
        raise ArgumentError(f"{field} must be a finite number, got {value!r}")
    return result


def as_bool(value: object, field: str, default: bool) -> bool:
    """A boolean argument; ``"true"``/``"false"`` and 0/1 are accepted."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS or not word:
            return False
    raise ArgumentError(f"{field} must be true or false, got {value!r}")


def as_str(value: object, field: str) -> str | None:
    """An optional string argument; numbers are turned into text, empty means absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ArgumentError(f"{field} must be a string, got {value!r}")


def as_choice(value: object, field: str, choices: tuple[T, ...], default: T) -> T:
    """One of ``choices`` (compared case-insensitively for strings)."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        for choice in choices:
            if isinstance(choice, str) and value.strip().lower() == choice:
                return choice
    quoted = [f"'{c}'" for c in choices]
    wanted = (
        " or ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + ", or " + quoted[-1]
    )
    raise ArgumentError(f"Invalid {field}: {value}. Must be {wanted}")


def as_tag_match(value: object) -> TagMatch:
    """``any`` or ``all`` (MMS's error text otherwise)."""
    return "all" if as_choice(value, "tag_match", ("any", "all"), "any") == "all" else "any"


def as_search_mode(value: object) -> SearchMode:
    """``semantic``, ``exact`` or ``hybrid`` (MMS's error text otherwise)."""
    mode = as_choice(value, "mode", ("semantic", "exact", "hybrid"), "semantic")
    if mode == "exact":
        return "exact"
    return "hybrid" if mode == "hybrid" else "semantic"


def as_object(value: object, field: str) -> dict[str, Any]:
    """A JSON object argument; a JSON-object string is accepted (models send those)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            check_json_depth(value)  # json.loads recurses: measure first
            value = json.loads(value)
        except TooDeep as exc:
            raise ArgumentError(f"{field}: {exc}") from None
        except ValueError:
            raise ArgumentError(
                f"{field} must be an object, got a string that is not JSON"
            ) from None
    if not isinstance(value, dict):
        raise ArgumentError(f"{field} must be an object, got {type(value).__name__}")
    return dict(value)


def store_tags(arguments: Mapping[str, Any]) -> list[str]:
    """``memory_store`` tags: MMS reads only ``metadata.tags``; memhub also takes ``tags``.

    Top-level tags come first, then metadata tags, de-duplicated (MMS merges the same way when
    its service layer gets both).
    """
    metadata = as_object(arguments.get("metadata"), "metadata")
    return merge_tags(arguments.get("tags"), metadata.get("tags"))


def max_response_chars(
    arguments: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> int:
    """The truncation budget: the argument, else ``MCP_MAX_RESPONSE_CHARS``, else 0 (unlimited).

    An explicit argument wins even when it is 0, and an unusable value falls through to the
    next source, as in MMS.
    """
    explicit = arguments.get("max_response_chars")
    if explicit is not None and not isinstance(explicit, bool):
        try:
            return int(float(explicit))
        except (TypeError, ValueError):
            pass
    env = os.environ if environ is None else environ
    raw = env.get("MCP_MAX_RESPONSE_CHARS")
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            pass
    return 0
