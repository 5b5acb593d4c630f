"""Settings: layering, environment variables, presets, errors and redaction."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentmap._settings_sources import bundled_presets, preset_names
from agentmap.errors import ConfigurationError
from agentmap.settings import (
    AgentMapSettings,
    load_settings,
    redacted_settings,
    secret_values,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AGENTMAP_* variables from the outer shell, no ./config or .env of the repo."""
    for name in list(os.environ):
        if name.upper().startswith("AGENTMAP_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "base.yaml").write_text("llm:\n  model: from-base\n  temperature: 0.25\n")
    (directory / "dev.yaml").write_text("llm:\n  model: from-dev-yaml\n")
    (directory / "prod.yaml").write_text("llm:\n  backend: fake\n")
    return directory


def test_each_layer_overrides_the_one_below(
    config_dir: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated / ".env").write_text("AGENTMAP_LLM__MODEL=from-dotenv\n")
    monkeypatch.setenv("AGENTMAP_LLM__MODEL", "from-env-var")

    def model(**overrides: object) -> str:
        return load_settings("dev", config_dir=config_dir, **overrides).llm.model

    assert model(llm={"model": "from-init"}) == "from-init"
    assert model() == "from-env-var"
    monkeypatch.delenv("AGENTMAP_LLM__MODEL")
    assert model() == "from-dotenv"
    (isolated / ".env").unlink()
    assert model() == "from-dev-yaml"
    assert load_settings("prod", config_dir=config_dir).llm.model == "from-base"
    (config_dir / "base.yaml").write_text("{}\n")
    assert load_settings("prod", config_dir=config_dir).llm.model == "gpt-4o-mini"


def test_layers_merge_deeply(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMAP_LLM__TIMEOUT", "5")
    settings = load_settings("prod", config_dir=config_dir, llm={"model": "init"})
    # backend from prod.yaml, temperature from base.yaml, timeout from env, model from init
    assert settings.llm.backend == "fake"
    assert settings.llm.temperature == 0.25
    assert settings.llm.timeout == 5.0
    assert settings.llm.model == "init"


def test_nested_env_var_and_json_list(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMAP_LLM__MODEL", "claude-x")
    monkeypatch.setenv("AGENTMAP_LLM__FAKE_RESPONSES", '["one", "two"]')
    monkeypatch.setenv("AGENTMAP_LLM__API_BASE", "null")
    settings = load_settings("dev", config_dir=config_dir)
    assert settings.llm.model == "claude-x"
    assert settings.llm.fake_responses == ["one", "two"]
    assert settings.llm.api_base is None


def test_agents_env_vars_keep_node_name_case_and_parse_values(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / "dev.yaml").write_text("agents:\n  llm:\n    timeout: 60\n    retries: 1\n")
    monkeypatch.setenv("AGENTMAP_AGENTS__FetchWeather__TIMEOUT", "30")
    monkeypatch.setenv("AGENTMAP_AGENTS__FetchWeather__cache_enabled", "true")
    monkeypatch.setenv("AGENTMAP_AGENTS__llm", '{"retries": 3, "retry_on": ["Timeout"]}')
    agents = load_settings("dev", config_dir=config_dir).agents
    assert agents == {
        "llm": {"timeout": 60, "retries": 3, "retry_on": ["Timeout"]},
        "FetchWeather": {"timeout": 30, "cache_enabled": True},
    }


def test_agents_env_var_that_is_not_an_object_is_an_error(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_AGENTS__Fetch", "30")
    with pytest.raises(ConfigurationError, match=r"AGENTMAP_AGENTS__Fetch.*JSON object"):
        load_settings("dev", config_dir=config_dir)


def test_agentmap_env_picks_the_preset(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMAP_ENV", "prod")
    settings = load_settings(config_dir=config_dir)
    assert settings.environment == "prod"
    assert settings.llm.backend == "fake"
    # The argument beats the variable.
    assert load_settings("dev", config_dir=config_dir).environment == "dev"


def test_agentmap_config_dir_and_env_from_dotenv(config_dir: Path, isolated: Path) -> None:
    (isolated / ".env").write_text(f"AGENTMAP_ENV=prod\nAGENTMAP_CONFIG_DIR={config_dir}\n")
    settings = load_settings()
    assert (settings.environment, settings.llm.backend) == ("prod", "fake")


def test_dotenv_may_hold_other_tools_variables(config_dir: Path, isolated: Path) -> None:
    (isolated / ".env").write_text("OPENAI_API_KEY=sk-other\nAGENTMAP_LLM__TIMEOUT=9\n")
    assert load_settings("dev", config_dir=config_dir).llm.timeout == 9.0


def test_unknown_environment_lists_presets(config_dir: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings("staging", config_dir=config_dir)
    message = str(info.value)
    assert "'staging'" in message
    assert "dev, prod" in message


def test_typo_in_yaml_names_file_field_and_suggestion(config_dir: Path) -> None:
    (config_dir / "dev.yaml").write_text("llm:\n  modle: x\n")
    with pytest.raises(ConfigurationError) as info:
        load_settings("dev", config_dir=config_dir)
    message = str(info.value)
    assert "llm.modle: unknown setting" in message
    assert "did you mean 'model'" in message
    assert str(config_dir / "dev.yaml") in message
    assert "Traceback" not in message
    assert info.value.__cause__ is None


def test_typo_in_top_level_yaml_key(config_dir: Path) -> None:
    (config_dir / "base.yaml").write_text("lmm:\n  model: x\n")
    with pytest.raises(ConfigurationError, match=r"lmm: unknown setting.*base\.yaml"):
        load_settings("dev", config_dir=config_dir)


def test_typo_in_nested_env_var(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMAP_CACHE__BACKEDN", "memory")
    with pytest.raises(ConfigurationError) as info:
        load_settings("dev", config_dir=config_dir)
    assert "cache.backedn: unknown setting (did you mean 'backend'?)" in str(info.value)
    assert "environment variable AGENTMAP_CACHE__BACKEDN" in str(info.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("AGENTMAP_LMM__MODEL", "did you mean AGENTMAP_LLM"),
        ("AGENTMAP_LLM_MODEL", "double underscore"),
        ("AGENTMAP_ENVIRONMENT", "use AGENTMAP_ENV"),
        ("AGENTMAP_QUUX__SIZE", "no such section"),
    ],
)
def test_unknown_top_level_env_var(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, hint: str
) -> None:
    monkeypatch.setenv(name, "x")
    with pytest.raises(ConfigurationError, match=name) as info:
        load_settings("dev", config_dir=config_dir)
    assert hint in str(info.value)


def test_other_tools_agentmap_variables_are_left_alone(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_REQUIRE_SERVICES", "1")  # set by .ci/run
    assert load_settings("dev", config_dir=config_dir).llm.model == "from-dev-yaml"


def test_invalid_value_names_variable_and_field(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_EXECUTION__MAX_STEPS", "0")
    with pytest.raises(ConfigurationError) as info:
        load_settings("dev", config_dir=config_dir)
    assert "execution.max_steps" in str(info.value)
    assert "AGENTMAP_EXECUTION__MAX_STEPS" in str(info.value)


def test_invalid_json_section_names_variable(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_LLM", "{not json")
    with pytest.raises(ConfigurationError, match="environment variable AGENTMAP_LLM"):
        load_settings("dev", config_dir=config_dir)


def test_yaml_syntax_error_names_file_and_line(config_dir: Path) -> None:
    (config_dir / "dev.yaml").write_text("llm:\n  model: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"dev\.yaml: invalid YAML at line \d+"):
        load_settings("dev", config_dir=config_dir)


def test_bad_value_from_keyword_argument(config_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"llm\.backend.*'nope'.*keyword argument"):
        load_settings("dev", config_dir=config_dir, llm={"backend": "nope"})


def test_secrets_are_redacted_and_listed(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMAP_LLM__API_KEY", "sk-live-123")
    monkeypatch.setenv("AGENTMAP_CACHE__REDIS_URL", "redis://:hunter2@cache:6379/0")
    settings = load_settings(
        "dev",
        config_dir=config_dir,
        llm={"api_base": "https://user:pa55@proxy.local/v1"},
        agents={"Fetch": {"api_token": "tok-9", "timeout": 3}},
    )
    shown = redacted_settings(settings)
    text = json.dumps(shown)  # JSON-able
    for secret in ("sk-live-123", "hunter2", "pa55", "tok-9"):
        assert secret not in text
    assert shown["llm"]["api_key"] == "**********"
    assert shown["cache"]["redis_url"] == "**********"
    assert shown["llm"]["api_base"] == "https://user:**********@proxy.local/v1"
    assert shown["agents"]["Fetch"] == {"api_token": "**********", "timeout": 3}
    assert shown["llm"]["model"] == "from-dev-yaml"

    values = secret_values(settings)
    for secret in ("sk-live-123", "redis://:hunter2@cache:6379/0", "hunter2", "pa55", "tok-9"):
        assert secret in values
    assert "from-dev-yaml" not in values
    assert values == sorted(values, key=len, reverse=True)


@pytest.mark.parametrize(
    ("environment", "backends", "log"),
    [
        ("development", ("litellm", "sqlite", "jsonl", "sqlite"), ("INFO", "text")),
        ("test", ("fake", "memory", "memory", "memory"), ("WARNING", "text")),
        ("production", ("litellm", "redis", "jsonl", "postgres"), ("INFO", "json")),
    ],
)
def test_shipped_presets(environment: str, backends: tuple[str, ...], log: tuple[str, str]) -> None:
    settings = load_settings(environment)  # the bundled presets: cwd is empty
    assert settings.environment == environment
    llm, cache, tracking, state = backends
    assert settings.llm.backend == llm
    assert settings.cache.backend == cache
    assert settings.tracking.backend == tracking
    assert settings.state.backend == state
    assert (settings.logging.level, settings.logging.format) == log


def test_production_preset_retries_in_the_llm_service_not_per_node() -> None:
    settings = load_settings("production")
    assert settings.agents["llm"] == {"timeout": 120}  # no node-level retries on top
    assert (settings.llm.timeout, settings.llm.retries) == (30, 3)


def test_bundled_presets_are_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    # cwd is an empty directory: no ./config/base.yaml, no AGENTMAP_CONFIG_DIR
    monkeypatch.setenv("AGENTMAP_ENV", "test")
    assert load_settings().llm.backend == "fake"


def test_bundled_presets_are_package_data() -> None:
    import agentmap

    presets = bundled_presets()
    # Inside the installed package, not beside it: a wheel ships them.
    assert Path(str(presets)).parent == Path(agentmap.__file__).parent
    assert preset_names(presets) == ["demo", "development", "production", "test"]


def test_unknown_environment_lists_the_bundled_presets() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings("staging")
    message = str(info.value)
    assert "'staging'" in message
    assert str(bundled_presets()) in message
    assert message.endswith("demo, development, production, test")


def test_local_config_dir_is_used_when_it_has_base_yaml(isolated: Path) -> None:
    local = isolated / "config"
    local.mkdir()
    (local / "base.yaml").write_text("logging:\n  level: debug\n")
    (local / "development.yaml").write_text("cache:\n  backend: memory\n")
    settings = load_settings()
    assert settings.cache.backend == "memory"
    assert settings.logging.level == "DEBUG"  # normalised for loguru
    # The local directory replaces the bundled presets; it does not add to them.
    with pytest.raises(ConfigurationError, match=r"Available presets in config: development$"):
        load_settings("test")


def test_missing_config_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(config_dir=tmp_path / "nowhere")


def test_direct_construction_reads_the_same_layers(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("AGENTMAP_ENV", "prod")
    settings = AgentMapSettings()
    assert (settings.environment, settings.llm.backend, settings.llm.model) == (
        "prod",
        "fake",
        "from-base",
    )


def test_env_file_none_disables_dotenv(
    config_dir: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTMAP_CONFIG_DIR", str(config_dir))
    (isolated / ".env").write_text("AGENTMAP_AGENTS__Fetch__TIMEOUT=3\nAGENTMAP_LLM__TIMEOUT=9\n")
    with_dotenv = AgentMapSettings(environment="dev")
    assert (with_dotenv.llm.timeout, with_dotenv.agents) == (9.0, {"Fetch": {"timeout": 3}})
    without = AgentMapSettings(environment="dev", _env_file=None)
    assert (without.llm.timeout, without.agents) == (60.0, {})  # 60: the default


def test_provider_keys_from_the_environment_are_secrets_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmap.settings import secret_values

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert "sk-from-the-environment" in secret_values(load_settings("test"))
