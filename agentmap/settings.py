"""The settings model: one typed tree, assembled from layered sources.

Highest priority first: keyword arguments > ``AGENTMAP_*`` environment
variables > ``.env`` in the working directory > the preset ``<environment>.yaml``
> the preset ``base.yaml`` > the defaults below. Mappings are deep-merged, so a
layer only states what it changes. Every section forbids unknown keys because
a mistyped setting that is silently ignored is worse than an error.

``load_settings`` is the entry point: it picks the environment and the config
directory and turns every failure into a ``ConfigurationError`` that names the
file or variable and the field. See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from agentmap import _settings_report as _report
from agentmap import _settings_sources as _src
from agentmap.errors import ConfigurationError
from agentmap.runtime.backoff import RETRY_BASE_DELAY, RETRY_MAX_DELAY

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "RESERVED_ENV_VARS",
    "AgentMapSettings",
    "BatchSettings",
    "CacheSettings",
    "ExecutionSettings",
    "LLMSettings",
    "LoggingSettings",
    "PathsSettings",
    "ServerSettings",
    "StateSettings",
    "StorageSettings",
    "TrackingSettings",
    "load_settings",
    "redacted_settings",
    "secret_values",
]

#: ``AGENTMAP_*`` variables that choose *how* settings load rather than set a field.
RESERVED_ENV_VARS = _src.RESERVED_ENV_VARS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMSettings(_Section):
    """Which LLM backend answers ``llm`` agents, and its defaults for every call."""

    backend: Literal["fake", "litellm", "openai_http"] = "litellm"
    #: The model of a call that names neither a model nor a provider.
    model: str = "gpt-4o-mini"
    #: An OpenAI-compatible server to send every call to (a proxy, vLLM, a local fake).
    api_base: str | None = None
    #: Sent with every call; without it litellm reads the provider's usual variable
    #: (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...).
    api_key: SecretStr | None = None
    #: Per-provider keys, used for that provider's models instead of ``api_key``.
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    #: Seconds per request (each retry gets its own).
    timeout: float = Field(default=60.0, gt=0)
    temperature: float | None = None
    #: ``provider="openai"`` in a call (or an ``openai`` agent) means this model.
    providers: dict[str, str] = Field(
        default_factory=lambda: {
            "openai": "gpt-4o-mini",
            "anthropic": "anthropic/claude-3-5-haiku-latest",
            "google": "gemini/gemini-1.5-flash",
        }
    )
    #: Short names for models: ``model: fast`` in a Context means ``aliases["fast"]``.
    aliases: dict[str, str] = Field(default_factory=dict)
    #: Retries of one request on rate limits, timeouts and 5xx (never on 4xx).
    retries: int = Field(default=2, ge=0)
    #: Models tried in order when a model keeps failing.
    fallbacks: list[str] = Field(default_factory=list)
    #: Calls in flight at once, over every model; None for no limit.
    max_concurrency: int | None = Field(default=None, ge=1)
    #: The same per provider (``{"openai": 20}``).
    provider_concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    #: Calls started per minute, over every model and the whole process (spread
    #: evenly, see agentmap.services.llm.limits); None for no limit. A float because
    #: a distributed batch divides a provider's limit between its workers.
    rpm: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    #: The same per provider (``{"openai": 500}``).
    provider_rpm: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    #: Reuse replies of identical requests at temperature 0 (or with Context cache: true).
    cache: bool = True
    #: Seconds a cached reply stays valid; None keeps it as long as the cache does.
    cache_ttl: float | None = None
    #: Replies the ``fake`` backend gives in order (then ``fake_default``).
    fake_responses: list[str] = Field(default_factory=list)
    fake_default: str | None = None
    #: Replies of the ``fake`` backend by node name (a text, or a list used in order);
    #: they come before patterns, responses and the default.
    fake_nodes: dict[str, str | list[str]] = Field(default_factory=dict)
    #: Regular expression -> reply, tried on the text of the call's last message.
    fake_patterns: dict[str, str] = Field(default_factory=dict)

    @field_validator("fake_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns


class CacheSettings(_Section):
    """Where agent results are cached (Context ``cache``); redis_url is a secret."""

    backend: Literal["memory", "sqlite", "redis"] = "sqlite"
    path: Path = Path(".agentmap/cache.sqlite3")
    max_entries: int = Field(default=10_000, ge=1)
    default_ttl: float | None = None
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")


class TrackingSettings(_Section):
    """Where run events (started, finished, failed, retried) go."""

    #: ``null`` drops every event; ``otel`` needs ``agentmap[otel]`` (docs/tracing.md).
    backend: Literal["memory", "jsonl", "otel", "null"] = "jsonl"
    path: Path = Path(".agentmap/runs.jsonl")
    #: otel: allow prompts, replies and state values on spans (off: names and numbers only;
    #: no event carries content yet, so it changes nothing today; docs/tracing.md).
    capture_content: bool = False
    #: otel: the ``service.name`` resource attribute (``OTEL_SERVICE_NAME`` wins).
    service_name: str = "agentmap"

    @field_validator("backend", mode="before")
    @classmethod
    def _null_is_a_name(cls, backend: Any) -> Any:
        # YAML ``backend: null`` and AGENTMAP_TRACKING__BACKEND=null (env_parse_none_str)
        # arrive as None; here null is the name of a backend, not "no value".
        return "null" if backend is None else backend


class StorageSettings(_Section):
    """Files the storage agents (csv_reader, json_writer, ...) read and write."""

    #: Relative collection paths are resolved against this folder; None: a temporary
    #: folder of the process (the ``test`` preset).
    base_dir: Path | None = Path(".")
    #: Folders reads and writes must stay inside; empty: ``base_dir`` alone.
    roots: list[Path] = Field(default_factory=list)


class StateSettings(_Section):
    """Where runs and their per-step checkpoints are kept (docs/durable-runs.md).

    ``url`` is a secret (it may hold a password); ``dsn`` is accepted for it.
    """

    backend: Literal["memory", "sqlite", "postgres"] = "memory"
    #: The sqlite file, created with its folder on first use.
    path: Path = Path(".agentmap/state.sqlite3")
    #: The postgres connection URL, e.g. postgresql://user:password@host:5432/db.
    url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("url", "dsn"))
    #: The postgres schema the tables live in (created on first use).
    schema_name: str = Field(default="agentmap", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    #: sync: a step is stored before the next starts; async: stored while the run goes on;
    #: exit: stored when the run ends or suspends (a crash loses the run).
    durability: Literal["sync", "async", "exit"] = "sync"
    #: The memory backend keeps values by reference and does not check they are JSON;
    #: true makes it check, as the sqlite and postgres backends always do.
    check_json: bool = False
    #: Connections of the postgres pool.
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)


class LoggingSettings(_Section):
    """The loguru sink: level and text (humans) or JSON lines (log collectors)."""

    level: str = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level")
    @classmethod
    def _upper(cls, value: str) -> str:
        # loguru level names are case-sensitive; users write "info" in YAML.
        return value.strip().upper()


class ExecutionSettings(_Section):
    """Runner limits and retry backoff shared by every run."""

    max_steps: int = Field(default=1000, ge=1)
    #: When a run counts as completed; see docs/running.md.
    success_policy: Literal["handled", "all_nodes", "final_node", "critical_nodes"] = "handled"
    #: The nodes that must not fail under ``success_policy: critical_nodes``.
    critical_nodes: list[str] = Field(default_factory=list)
    retry_base_delay: float = Field(default=RETRY_BASE_DELAY, ge=0)
    retry_max_delay: float = Field(default=RETRY_MAX_DELAY, ge=0)
    checkpoint: bool = True
    #: Worker threads for agents with a sync ``process`` (they wait on I/O in parallel).
    max_threads: int = Field(default=64, ge=1)

    @model_validator(mode="after")
    def _critical_nodes_listed(self) -> ExecutionSettings:
        if self.success_policy == "critical_nodes" and not self.critical_nodes:
            raise ValueError(
                "success_policy critical_nodes needs the node names in execution.critical_nodes"
            )
        return self


class PathsSettings(_Section):
    """Where user code and prompts are found, relative to the working directory."""

    custom_agents: Path = Path("custom_agents")
    functions: Path = Path("functions")
    prompts: Path = Path("prompts")


class BatchSettings(_Section):
    """Defaults of ``agentmap batch`` and ``agentmap.batch.run_batch`` (see docs/batch.md)."""

    #: Runs in flight at once (rows processed concurrently) in one process.
    concurrency: int = Field(default=16, ge=1)
    #: Seconds one row may take before it is recorded as failed; None for no limit.
    row_timeout: float | None = Field(default=None, gt=0)
    #: Rows per shard sent to a Dask worker (``--executor dask``).
    shard_size: int = Field(default=200, ge=1)
    #: Seconds between plain progress lines when stderr is not a terminal.
    progress_interval: float = Field(default=10.0, gt=0)


_KEY_HASH = r"^sha256:[0-9a-f]{64}$"


class ServerSettings(_Section):
    """``agentmap serve`` (see docs/serving.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    #: The folder whose workflow CSVs are loaded and validated at start-up.
    workflows: Path = Path("workflows")
    #: API keys by name, stored hashed: ``{"ci": "sha256:<hex>"}`` (``agentmap keys new NAME``
    #: prints a key and its line). The name, never the key, appears in logs.
    api_keys: dict[str, str] = Field(default_factory=dict)
    #: Largest request body of the run endpoints, and of a batch upload, in bytes.
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    max_batch_bytes: int = Field(default=64 * 1_048_576, ge=1)
    #: Requests per second allowed per key (per client address without keys); None: no limit.
    rate_limit: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    #: Requests a key may make at once above ``rate_limit`` (the bucket's size).
    rate_burst: int = Field(default=20, ge=1)
    #: Runs of one key (or of all anonymous callers) in flight at once.
    max_concurrent_runs: int = Field(default=64, ge=1)
    #: Origins allowed to call the API from a browser (CORS); empty: CORS off.
    cors_origins: list[str] = Field(default_factory=list)
    #: Seconds in-flight runs get to finish after SIGTERM before they are checkpointed
    #: and marked ``interrupted``.
    shutdown_grace: float = Field(default=30.0, ge=0)
    #: Where batch inputs and results are kept.
    batch_dir: Path = Path(".agentmap/batches")

    @field_validator("api_keys")
    @classmethod
    def _hashes_only(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, value in keys.items():
            if not re.fullmatch(_KEY_HASH, value):
                raise ValueError(
                    f"the value for key {name!r} is not a 'sha256:<64 hex digits>' hash; "
                    "the settings hold a key's hash, never the key itself: "
                    "`agentmap keys new NAME` prints both"
                )
        return keys


#: Config directory chosen by ``load_settings`` for the settings being built.
_CONFIG_DIR: ContextVar[Traversable | None] = ContextVar("agentmap_config_dir", default=None)


class AgentMapSettings(BaseSettings):
    """Effective settings. Build it with ``load_settings`` to get readable errors."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTMAP_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        env_parse_none_str="null",
        extra="forbid",
    )

    environment: str = "development"
    llm: LLMSettings = Field(default_factory=LLMSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    paths: PathsSettings = Field(default_factory=PathsSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    #: Per node name or agent type: keys that override that node's CSV Context.
    agents: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Sources are built per instantiation, so a direct ``AgentMapSettings()``
        # resolves the environment and config directory the same way
        # ``load_settings`` does (which pins the directory through _CONFIG_DIR).
        # Honour ``AgentMapSettings(_env_file=None)`` (or another file) like pydantic does.
        dotenv = _src.read_dotenv(getattr(dotenv_settings, "env_file", ".env"))
        init_kwargs = (
            init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        )
        environment = _src.resolve_environment(init_kwargs.get("environment"), dotenv)
        config_dir = _CONFIG_DIR.get() or _src.resolve_config_dir(None, dotenv)
        return (
            init_settings,
            _src.EnvVarsSource(
                settings_cls, env_settings, dict(os.environ), "environment variable"
            ),
            _src.EnvVarsSource(settings_cls, dotenv_settings, dotenv, ".env"),
            _src.PresetSource(settings_cls, environment, config_dir),
        )


def load_settings(
    environment: str | None = None, *, config_dir: Path | None = None, **overrides: Any
) -> AgentMapSettings:
    """Build the effective settings for ``environment`` (else ``AGENTMAP_ENV``, else development).

    ``config_dir`` defaults to ``AGENTMAP_CONFIG_DIR``, then ``./config`` when it
    holds a ``base.yaml``, then the presets bundled in ``agentmap/presets``. ``overrides`` are
    the highest-priority layer; nested mappings merge into the lower layers
    (``llm={"backend": "fake"}`` keeps the preset's model).
    """
    dotenv = _src.read_dotenv()
    env = _src.resolve_environment(environment, dotenv)
    directory = _src.resolve_config_dir(config_dir, dotenv)
    token = _CONFIG_DIR.set(directory)
    try:
        return AgentMapSettings(environment=env, **overrides)
    except (ValidationError, SettingsError) as exc:
        layers = _report.Layers(
            overrides, dict(os.environ), dotenv, _src.preset_layers(directory, env)
        )
        if isinstance(exc, ValidationError):
            message = "\n" + _report.explain_validation_error(exc, layers, AgentMapSettings)
        else:
            message = " " + _report.explain_settings_error(exc, layers)
        raise ConfigurationError(f"Invalid settings for environment {env!r}:{message}") from None
    finally:
        _CONFIG_DIR.reset(token)


def redacted_settings(settings: AgentMapSettings) -> dict[str, Any]:
    """The effective settings as JSON-able data, safe to print (``agentmap config``)."""
    data = settings.model_dump(mode="json")  # SecretStr dumps as "**********"
    redacted = _report.redact_tree(data)
    assert isinstance(redacted, dict)
    return redacted


#: Provider keys litellm reads from the environment when ``llm.api_key`` is unset:
#: secrets too, though they are not settings.
PROVIDER_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_API_KEY",
    "MISTRAL_API_KEY",
    "COHERE_API_KEY",
    "GROQ_API_KEY",
    "TOGETHERAI_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
)


def secret_values(settings: AgentMapSettings) -> list[str]:
    """Plain values of every secret, longest first, for the logger's redaction filter.

    Includes the provider keys in the environment that litellm would use.
    """
    found = {value for value in _iter_secrets(settings) if value}
    found.update(os.environ[name] for name in PROVIDER_KEY_VARIABLES if os.environ.get(name))
    return sorted(found, key=lambda value: (-len(value), value))


def _iter_secrets(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, SecretStr):
        plain = value.get_secret_value()
        yield plain
        yield from _report.url_passwords(plain)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _iter_secrets(getattr(value, name), name)
    elif isinstance(value, Mapping):
        for sub_key, item in value.items():
            yield from _iter_secrets(item, str(sub_key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _iter_secrets(item, key)
    elif isinstance(value, str):
        if _report.looks_secret(key):
            yield value
        yield from _report.url_passwords(value)
