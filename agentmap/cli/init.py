"""``agentmap init [DIR]``: write a small project that runs and passes its tests at once.

The files come from ``agentmap/templates/init`` (package data, see its
``__init__``) and the environment presets from ``agentmap/presets``, copied
into ``config/``: a ``./config/base.yaml`` replaces the bundled presets as a
whole, so the project gets every one of them (``test`` included, which the
``agentmap_app`` fixture needs) to edit. A non-empty folder is refused unless
``--force``, and even then each replaced file is named: init never overwrites
silently. Only typer is imported at load time (``agentmap --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentmap.cli.common import fail

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["init", "project_files"]

#: Template names disguised in the package -> their names in the project.
_RENAMED = {"env.example": ".env.example", "gitignore": ".gitignore"}
_PRESETS = ("base", "development", "production", "test")
#: Entries a folder may hold and still count as empty (a fresh ``git init``).
_IGNORED = {".git"}


def _walk(folder: Traversable, prefix: Path) -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(("__", ".")):
            continue
        if entry.is_dir():
            files += _walk(entry, prefix / entry.name)
            continue
        name = _RENAMED.get(entry.name, entry.name.removesuffix(".tmpl"))
        files.append((prefix / name, entry.read_text(encoding="utf-8")))
    return files


def project_files(project: str) -> list[tuple[Path, str]]:
    """The project's files: (path relative to DIR, text), for a project named ``project``."""
    from importlib.resources import files

    templates = files("agentmap.templates") / "init"
    written = [
        (path, text.replace("{{project}}", project)) for path, text in _walk(templates, Path())
    ]
    presets = files("agentmap.presets")
    for name in _PRESETS:
        header = (
            f"# Copied from AgentMap's bundled {name}.yaml by `agentmap init`. This folder\n"
            "# replaces the bundled presets when AgentMap runs here (./config/base.yaml\n"
            "# exists): edit freely, and keep test.yaml for the agentmap_app fixture.\n"
        )
        text = (presets / f"{name}.yaml").read_text(encoding="utf-8")
        written.append((Path("config") / f"{name}.yaml", header + text))
    return written


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder of the new project (created if missing).")
    ] = Path("."),
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty folder, replacing files of the same names."
        ),
    ] = False,
) -> None:
    """Create a project: workflows, a custom agent with its tests, settings, .env.example.

    Then, in DIR, `agentmap run hello.csv --state '{"name": "Ada"}'` and
    `pytest` pass at once. Exit 2 if DIR is not empty (unless --force).
    """
    if directory.exists() and not directory.is_dir():
        fail(f"{directory} exists and is not a folder")
    present = (
        [p.name for p in directory.iterdir() if p.name not in _IGNORED]
        if directory.is_dir()
        else []
    )
    if present and not force:
        shown = ", ".join(sorted(present)[:5]) + (", ..." if len(present) > 5 else "")
        fail(
            f"{directory} is not empty ({shown}); choose a new folder, or pass --force to "
            "write into it (files with the same names are replaced)"
        )
    project = directory.resolve().name or "agentmap-project"
    for relative, text in project_files(project):
        target = directory / relative
        replaced = target.exists()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}")
        typer.echo(f"{'replaced' if replaced else 'wrote':<8} {target}")
    where = "" if directory.resolve() == Path.cwd() else f"cd {directory} && "
    typer.echo(
        f'\nnext: {where}agentmap run hello.csv --state \'{{"name": "Ada"}}\' && pytest\n'
        "(README.md says what each file is for)"
    )
