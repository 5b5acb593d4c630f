"""Reporting on settings: where a bad value came from, and what is secret.

``load_settings`` turns a pydantic ``ValidationError`` into one line per
problem that names the field path and the keyword argument, environment
variable, ``.env`` entry or YAML file that supplied it (a user can only fix
what they can find). The secret helpers serve ``redacted_settings`` and
``secret_values``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agentmap._settings_sources import PREFIX, lookup

MASK = "**********"
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)([^@\s/]+)(@)")
# Keys in free-form mappings (``agents:``) whose string values are secrets.
_SECRET_SUFFIXES = ("api_key", "api_keys", "apikey", "secret", "password", "passwd", "token", "dsn")


@dataclass(frozen=True)
class Layers:
    """The raw input of each source, to say where a bad value came from."""

    overrides: Mapping[str, Any]
    environ: Mapping[str, str | None]
    dotenv: Mapping[str, str | None]
    presets: Sequence[tuple[str, Mapping[str, Any]]]

    def origin(self, loc: Sequence[str | int]) -> str:
        if _covers(self.overrides, loc):
            return f"keyword argument {loc[0]!r}"
        for label, variables in (("environment variable", self.environ), (".env", self.dotenv)):
            for size in range(len(loc), 0, -1):
                found = lookup(variables, PREFIX + "__".join(str(p) for p in loc[:size]))
                if found:
                    return f"{label} {found[0]}"
        for path, data in self.presets:
            if _covers(data, loc):
                return path
        return ""


def _covers(data: Any, loc: Sequence[str | int]) -> bool:
    """Whether ``data`` supplies the value at ``loc`` (or a non-mapping on its way)."""
    for depth, part in enumerate(loc):
        in_mapping = isinstance(data, Mapping) and part in data
        if in_mapping or (isinstance(data, list) and isinstance(part, int) and part < len(data)):
            data = data[part]
        else:
            return depth > 0 and not isinstance(data, Mapping | list)
    return True


def _known_fields(model: Any, loc: Sequence[str | int]) -> list[str]:
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        model = getattr(field, "annotation", None)
    return list(getattr(model, "model_fields", {}))


def explain_validation_error(exc: ValidationError, layers: Layers, model: type[Any]) -> str:
    import difflib

    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        dotted = ".".join(str(part) for part in loc) or "(settings)"
        if error["type"] == "extra_forbidden":
            text = f"{dotted}: unknown setting"
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(model, loc[:-1]), 1)
            if close:
                text += f" (did you mean {close[0]!r}?)"
        else:
            text = f"{dotted}: {error['msg']}"
            value = error.get("input")
            hidden = any(looks_secret(part) or "url" in str(part) for part in loc)
            if isinstance(value, str | int | float | bool) and not hidden:
                text += f" (got {str(value)[:60]!r})"
        origin = layers.origin(loc)
        lines.append(f"  {text}" + (f" [from {origin}]" if origin else ""))
    return "\n".join(lines)


def explain_settings_error(exc: Exception, layers: Layers) -> str:
    """pydantic-settings' parse errors name a field and a source class; name the variable."""
    match = re.search(r'field "(\w+)" from source "(\w+)"', str(exc))
    if match is None:
        return str(exc)
    field, source = match.groups()
    variables = layers.dotenv if source.startswith("DotEnv") else layers.environ
    label = ".env" if source.startswith("DotEnv") else "environment variable"
    found = lookup(variables, PREFIX + field)
    name = found[0] if found else PREFIX + field.upper()
    return (
        f"{label} {name}: not a valid JSON value for the {field!r} section "
        f"(set one field with {PREFIX}{field.upper()}__<FIELD>=value instead)"
    )


# --------------------------------------------------------------------------- secrets


def looks_secret(key: object) -> bool:
    return str(key).lower().endswith(_SECRET_SUFFIXES)


def url_passwords(text: str) -> Iterator[str]:
    for match in _URL_PASSWORD.finditer(text):
        yield match.group(2)


def redact_tree(value: Any, key: str = "") -> Any:
    """Mask secret-looking keys' values and the password part of URL-like strings."""
    if isinstance(value, Mapping):
        return {k: redact_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(item, key) for item in value]
    if isinstance(value, str):
        if value and looks_secret(key):
            return MASK
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", value)
    return value
