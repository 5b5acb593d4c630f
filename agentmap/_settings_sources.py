"""Settings sources behind ``agentmap.settings``: presets, env vars, ``.env``.

Kept apart from the model so that the model reads as a schema. Here:

- the YAML preset layer (``base.yaml`` under ``<env>.yaml``, from the presets
  bundled in ``agentmap/presets`` or a directory of the user's own);
- a wrapper around pydantic-settings' environment and ``.env`` sources that
  rejects unknown ``AGENTMAP_*`` names (pydantic-settings ignores them) and
  parses ``AGENTMAP_AGENTS__<key>__<setting>`` itself, because pydantic-settings
  lower-cases every key it reads and node names are case-sensitive;
- the YAML files' and variables' raw data, which ``_settings_report`` uses
  to say where a bad value came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_settings import PydanticBaseSettingsSource

from agentmap._yaml import YAMLSyntaxError, parse_yaml
from agentmap.errors import ConfigurationError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from pydantic.fields import FieldInfo
    from pydantic_settings import BaseSettings

PREFIX = "AGENTMAP_"
AGENTS_VAR = "AGENTMAP_AGENTS"
RESERVED_ENV_VARS = frozenset({"AGENTMAP_ENV", "AGENTMAP_CONFIG_DIR"})
#: The presets shipped in the wheel as package data (see docs/configuration.md).
PRESETS_PACKAGE = "agentmap.presets"

# --------------------------------------------------------------------------- lookups


def lookup(variables: Mapping[str, str | None], name: str) -> tuple[str, str] | None:
    """Find ``name`` among variables case-insensitively, as pydantic-settings does."""
    upper = name.upper()
    for key, value in variables.items():
        if key.upper() == upper and value is not None:
            return key, value
    return None


def read_dotenv(files: Any = ".env") -> dict[str, str | None]:
    """Variables of the dotenv file(s), case kept; ``files`` as pydantic's ``env_file``."""
    if files is None:
        return {}
    paths: list[Any] = [files] if isinstance(files, str | os.PathLike) else list(files)
    found: dict[str, str | None] = {}
    for path in map(Path, paths):
        if path.is_file():
            from dotenv import dotenv_values  # a pydantic-settings dependency, already loaded

            found.update(dotenv_values(path, encoding="utf-8"))
    return found


def resolve_environment(explicit: str | None, dotenv: Mapping[str, str | None]) -> str:
    if explicit:
        return explicit
    found = lookup(os.environ, "AGENTMAP_ENV") or lookup(dotenv, "AGENTMAP_ENV")
    return found[1] if found and found[1] else "development"


def bundled_presets() -> Traversable:
    """The presets shipped inside the installed package, read as package data.

    ``importlib.resources`` rather than a path computed from ``__file__``: the
    presets are where the installer put the package, whatever that is (a
    wheel in site-packages, an editable checkout, a zip).
    """
    from importlib.resources import files  # loaded already by pydantic's import

    return files(PRESETS_PACKAGE)


def resolve_config_dir(
    explicit: Path | None, dotenv: Mapping[str, str | None]
) -> Traversable | None:
    """The preset directory, or None when not even the bundled presets exist.

    A user's directory (``config_dir``, ``AGENTMAP_CONFIG_DIR``, or ``./config``
    holding a ``base.yaml``) replaces the bundled presets as a whole, so its
    environments are exactly the files in it.
    """
    origin = "config_dir argument"
    if explicit is None:
        found = lookup(os.environ, "AGENTMAP_CONFIG_DIR") or lookup(dotenv, "AGENTMAP_CONFIG_DIR")
        if found and found[1]:
            origin, explicit = found[0], Path(found[1])
    if explicit is not None:
        if not explicit.is_dir():
            raise ConfigurationError(f"Config directory {explicit} (from {origin}) does not exist")
        return explicit
    if (Path("config") / "base.yaml").is_file():
        return Path("config")
    bundled = bundled_presets()
    return bundled if bundled.is_dir() else None


def preset_names(config_dir: Traversable) -> list[str]:
    """The environments a directory offers: its ``*.yaml`` files other than ``base.yaml``."""
    names = (entry.name for entry in config_dir.iterdir() if entry.is_file())
    return sorted(
        name[: -len(".yaml")] for name in names if name.endswith(".yaml") and name != "base.yaml"
    )


def preset_files(config_dir: Traversable | None, environment: str) -> list[Traversable]:
    """``base.yaml`` (if any) then ``<environment>.yaml``; an unknown environment is an error."""
    if config_dir is None:
        if environment == "development":
            return []  # no presets installed: the model defaults are the development preset
        raise ConfigurationError(
            f"Unknown environment {environment!r}: no config directory found "
            "(set AGENTMAP_CONFIG_DIR or create ./config/base.yaml)"
        )
    presets = preset_names(config_dir)
    target = config_dir / f"{environment}.yaml"
    if environment not in presets:
        listed = ", ".join(presets) or "none"
        raise ConfigurationError(
            f"Unknown environment {environment!r}: no {target}. Available presets in "
            f"{config_dir}: {listed}"
        )
    base = config_dir / "base.yaml"
    return [base, target] if base.is_file() else [target]


def read_yaml(path: Traversable) -> dict[str, Any]:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), path)
    except YAMLSyntaxError as exc:
        raise ConfigurationError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{path}: expected a mapping of settings, got {type(data).__name__}"
        )
    return data


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) in ``top`` replaces."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def preset_layers(
    config_dir: Traversable | None, environment: str
) -> list[tuple[str, dict[str, Any]]]:
    """The YAML layers, highest priority first, for naming the origin of an error."""
    try:
        files = preset_files(config_dir, environment)
        return [(str(path), read_yaml(path)) for path in reversed(files)]
    except ConfigurationError:
        return []


# --------------------------------------------------------------------------- sources


class PresetSource(PydanticBaseSettingsSource):
    """The lowest layer: the deep-merged YAML presets for one environment."""

    def __init__(
        self, settings_cls: type[BaseSettings], environment: str, config_dir: Traversable | None
    ) -> None:
        super().__init__(settings_cls)
        self.environment = environment
        self.config_dir = config_dir

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for path in preset_files(self.config_dir, self.environment):
            data = deep_merge(data, read_yaml(path))
        # The preset chosen, not whatever a file says, is the environment.
        data["environment"] = self.environment
        return data


class EnvVarsSource(PydanticBaseSettingsSource):
    """Wraps pydantic-settings' env or dotenv source (see the module docstring)."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        inner: PydanticBaseSettingsSource,
        variables: Mapping[str, str | None],
        label: str,
    ) -> None:
        super().__init__(settings_cls)
        self.inner = inner
        self.variables = variables
        self.label = label

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        check_names(self.variables, self.label, fields)
        data = {
            key: value
            for key, value in self.inner().items()
            if key in fields and key not in ("environment", "agents")
        }
        agents = agents_from_vars(self.variables, self.label)
        if agents:
            data["agents"] = agents
        return data


def check_names(variables: Mapping[str, str | None], label: str, fields: Mapping[str, Any]) -> None:
    """Reject ``AGENTMAP_*`` names that look like a mistyped setting.

    pydantic-settings silently skips names that match no field. Names shaped
    like a setting (nested ``__``, ``<field>_x``, or close to a field name)
    are errors; other names are left alone, since tools share the prefix
    (the CI's ``AGENTMAP_REQUIRE_SERVICES``, for one).
    """
    settable = [f for f in fields if f != "environment"]
    for name in variables:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in RESERVED_ENV_VARS:
            continue
        head = upper[len(PREFIX) :].split("__", 1)[0].lower()
        if head in settable:
            continue
        prefixed = [f for f in settable if head.startswith(f"{f}_")]
        if head == "environment":
            hint = "use AGENTMAP_ENV to choose the environment"
        elif prefixed:
            hint = f"nested names use a double underscore: AGENTMAP_{prefixed[0].upper()}__..."
        else:
            import difflib  # only for a name that is not a setting

            close = difflib.get_close_matches(head, settable, 1)
            if close:
                hint = f"did you mean AGENTMAP_{close[0].upper()}?"
            elif "__" in upper:
                hint = "no such section"
            else:
                continue
        known = ", ".join(sorted({f"AGENTMAP_{f.upper()}" for f in settable} | RESERVED_ENV_VARS))
        raise ConfigurationError(f"Unknown setting in {label} {name} ({hint}). Known: {known}")


def parse_scalar(raw: str) -> Any:
    """JSON if it parses (``30``, ``true``, ``[1, 2]``, ``{"a": 1}``), else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def agents_from_vars(variables: Mapping[str, str | None], label: str) -> dict[str, dict[str, Any]]:
    """Parse ``AGENTMAP_AGENTS`` (JSON), ``..__<key>`` (JSON) and ``..__<key>__<setting>``.

    The node-name / agent-type key keeps its case; setting names are lower-cased
    (``TIMEOUT`` -> ``timeout``). More specific variables win.
    """
    entries: list[tuple[list[str], str, Any]] = []
    for name, raw in variables.items():
        upper = name.upper()
        if raw is None or not (upper == AGENTS_VAR or upper.startswith(AGENTS_VAR + "__")):
            continue
        parts = name[len(AGENTS_VAR) + 2 :].split("__") if upper != AGENTS_VAR else []
        if any(not part for part in parts):
            raise ConfigurationError(f"{label} {name}: empty name between '__' separators")
        entries.append((parts, name, parse_scalar(raw)))
    agents: dict[str, Any] = {}
    for parts, name, value in sorted(entries, key=lambda entry: len(entry[0])):
        if len(parts) <= 1 and not isinstance(value, dict):
            what = "agents" if not parts else f"agent/node {parts[0]!r}"
            raise ConfigurationError(
                f"{label} {name}: expected a JSON object of settings for {what}, "
                'e.g. {"timeout": 30, "retries": 3}'
            )
        patch: Any = value
        for part in reversed([p.lower() for p in parts[1:]]):
            patch = {part: patch}
        agents = deep_merge(agents, {parts[0]: patch} if parts else value)
    return agents
