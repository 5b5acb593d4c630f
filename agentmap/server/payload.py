"""What is wrong with a request's body, said in the API's terms (problem+json).

Checks on the JSON a client sends as a run's state or a resume's values.

Python's JSON parser accepts more than JSON: ``NaN`` and ``Infinity``, and
``"\\ud800"`` escapes that decode to lone surrogates no UTF-8 encoder takes.
It also reads structures nested far deeper than the server can write back.
Each of those got past the request models and failed later, where the cause
no longer showed: a response body that is not JSON (NaN), a 500 from the
encoder (deep nesting), or a 503 "state store not reachable" from a store
that could not encode the text (surrogates). Checking the values once, at
the door, turns each into a 422 that names the field.

The walk is iterative, so a deep value cannot make the check itself fail.
"""

from __future__ import annotations

import math
from typing import Any

from agentmap.server.auth import BodyTooLargeError
from agentmap.server.problems import FieldError, ProblemError

__all__ = ["MAX_DEPTH", "is_json", "json_problem", "media_type_problem", "unreadable_body"]

#: Containers a state value may nest inside one another (state itself not counted).
MAX_DEPTH = 100


def json_problem(value: Any, where: str) -> tuple[str, str] | None:
    """``(field path, why)`` for a part of ``value`` that is not portable JSON, or None.

    ``where`` names ``value`` itself (``state``, ``values``); the path extends it
    (``state.items[2].name``). A value nested too deeply is named by its
    top-level field: the full path would be hundreds of ``[0]`` long.
    """
    stack: list[tuple[Any, str, int, str]] = [(value, where, 0, where)]
    while stack:
        item, path, depth, top = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return path, f"{item} is not a JSON number; send a string or null instead"
        elif isinstance(item, str):
            if _bad_text(item):
                return path, "the text holds an unpaired surrogate (\\ud800-\\udfff), not Unicode"
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return top, f"the value nests more than {MAX_DEPTH} levels deep"
            if isinstance(item, dict):
                for key, child in reversed(item.items()):
                    if _bad_text(key):
                        return path, f"a key holds an unpaired surrogate: {key!r}"
                    name = _member(path, key)
                    stack.append((child, name, depth + 1, name if depth == 0 else top))
            else:
                for i in range(len(item) - 1, -1, -1):
                    name = f"{path}[{i}]"
                    stack.append((item[i], name, depth + 1, name if depth == 0 else top))
    return None


def _bad_text(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _member(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def unreadable_body(cause: BaseException | None) -> ProblemError | None:
    """The problem for a body FastAPI could not read (it answers a bare 400 for all of them).

    FastAPI turns any exception raised while it reads and parses a body into
    ``HTTPException(400, "There was an error parsing the body")``; the cause
    says what the client did: sent more than the limit without a
    Content-Length (the guard's counting receive raised), or text that is
    not UTF-8, nests past the parser's recursion limit, or holds an integer
    too long to convert.
    """
    if isinstance(cause, BodyTooLargeError):
        return ProblemError(413, "body-too-large", str(cause))
    if isinstance(cause, UnicodeDecodeError):
        why = "it is not UTF-8 text"
    elif isinstance(cause, RecursionError):
        why = "it nests arrays or objects deeper than the server reads"
    elif isinstance(cause, ValueError):
        why = str(cause).partition(";")[0]  # drop CPython's hint about sys.set_int_max_str_digits
    else:
        return None
    return ProblemError(400, "malformed-json", f"the request body is not valid JSON: {why}")


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this Content-Type as JSON (its own rule)."""
    if not content_type:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def media_type_problem(content_type: str | None) -> ProblemError:
    given = f"it was sent as {content_type!r}" if content_type else "it has no Content-Type"
    return ProblemError(
        415,
        "unsupported-media-type",
        f"the request body must be JSON sent with Content-Type: application/json; {given}",
        [FieldError("Content-Type", "expected application/json")],
    )
