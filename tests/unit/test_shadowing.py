"""A user's own ``containers`` module must never be used in place of AgentMap's package."""

from __future__ import annotations

import importlib.util
import sys
import timeit
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

import containers
from agentmap import _shadowing
from agentmap.errors import AgentMapError, ConfigurationError, ShadowedPackageError

OURS = Path(containers.__file__)


@pytest.fixture
def unimported(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: ``containers`` not imported yet (restored after the test)."""
    monkeypatch.delitem(sys.modules, "containers")


def test_our_package_passes() -> None:
    _shadowing.check_containers()  # imported: sys.modules says where it came from


@pytest.mark.usefixtures("unimported")
def test_our_package_passes_before_it_is_imported() -> None:
    _shadowing.check_containers()
    assert "containers" not in sys.modules  # the check imported nothing


@pytest.mark.usefixtures("unimported")
@pytest.mark.parametrize("layout", ["module", "package"])
def test_a_users_module_first_on_sys_path_is_refused(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if layout == "module":
        theirs = tmp_path / "containers.py"
    else:
        (tmp_path / "containers").mkdir()
        theirs = tmp_path / "containers" / "__init__.py"
    theirs.write_text("WIRING = 'mine'\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # as a script's folder is sys.path[0]

    with pytest.raises(ShadowedPackageError) as info:
        _shadowing.check_containers()

    message = str(info.value)
    assert str(theirs) in message
    assert str(OURS) in message
    assert "Rename your module" in message
    assert (info.value.found, info.value.ours) == (str(theirs), str(OURS))
    assert "containers" not in sys.modules  # the user's module was not executed either


@pytest.mark.usefixtures("unimported")
def test_a_folder_without_init_does_not_shadow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. a project's containers/ folder of Dockerfiles: a namespace package
    # loses to a regular package anywhere on sys.path, so ours is imported.
    (tmp_path / "containers").mkdir()
    (tmp_path / "containers" / "Dockerfile").write_text("FROM python:3.11\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _shadowing.check_containers()


def test_an_already_imported_foreign_module_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = tmp_path / "containers.py"
    theirs.write_text("")
    spec = importlib.util.spec_from_file_location("containers", theirs)
    assert spec is not None
    monkeypatch.setitem(sys.modules, "containers", importlib.util.module_from_spec(spec))
    with pytest.raises(ShadowedPackageError, match=str(theirs)):
        _shadowing.check_containers()


def test_the_error_is_a_configuration_and_an_import_error() -> None:
    error = ShadowedPackageError("containers", "/a/containers.py", "/b/containers/__init__.py")
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, AgentMapError)
    assert isinstance(error, ImportError)  # code catching a failed import still does
    assert error.exit_code == 2


@pytest.mark.usefixtures("unimported")
def test_the_check_costs_well_under_a_millisecond() -> None:
    runs = 200
    best = min(timeit.repeat(_shadowing.check_containers, number=runs, repeat=5)) / runs
    assert best < 0.0005, f"check_containers took {best * 1e6:.0f} µs"


def test_only_the_agentmap_console_script_counts_as_the_command(mocker: MockerFixture) -> None:
    main = sys.modules["__main__"]
    mocker.patch.object(main, "__file__", "/venv/bin/agentmap")
    assert _shadowing.is_agentmap_command()
    mocker.patch.object(main, "__file__", "/home/me/project/run_flow.py")
    assert not _shadowing.is_agentmap_command()
