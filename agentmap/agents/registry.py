"""Agent types by name: the built-ins plus users' classes from their custom-agents folders.

Names are case-insensitive (``Echo`` and ``echo`` are one type) and a
``custom:`` prefix is accepted and ignored, as in AgentMap CSVs. A custom class
registers under its class name and, when that ends in ``Agent``, under the
name without the suffix too (``WeatherAgent`` is ``custom:Weather`` as well).

A workflow's own ``custom_agents/`` folder (beside its CSV) goes into a
*derived* registry (``derive``), which looks up its parent for every other
type: loading one workflow never changes which types another one sees.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

from agentmap.agents.base_agent import BaseAgent
from agentmap.agents.builtin import BUILTIN_AGENTS
from agentmap.errors import AgentError

__all__ = ["AgentRegistry", "normalise_type"]

CUSTOM_PREFIX = "custom:"


def normalise_type(agent_type: str) -> str:
    name = agent_type.strip()
    if name.lower().startswith(CUSTOM_PREFIX):
        name = name[len(CUSTOM_PREFIX) :].strip()
    return name.lower() or "default"


class AgentRegistry:
    def __init__(
        self,
        agents: dict[str, type[BaseAgent]] | None = None,
        *,
        parent: AgentRegistry | None = None,
    ) -> None:
        self.parent = parent
        self._by_key: dict[str, type[BaseAgent]] = {}
        self._names: dict[str, str] = {}  # key -> canonical spelling
        self._folders: set[Path] = set()  # loaded once each, however they were named
        #: Short names (``Summary`` of ``SummaryAgent``) not registered because another
        #: type already has them: key -> the custom class that would have had it.
        self._hidden: dict[str, type[BaseAgent]] = {}
        for name, cls in (agents or {}).items():
            self.register(name, cls)

    @classmethod
    def with_builtins(cls, custom_paths: Iterable[Path] = ()) -> AgentRegistry:
        registry = cls(dict(BUILTIN_AGENTS))
        for path in custom_paths:
            registry.load_folder(path)
        return registry

    def derive(self, folders: Iterable[Path]) -> AgentRegistry:
        """A registry with this one's types plus those of ``folders``; this one is unchanged.

        Types registered here later are seen by the derived registry too (it
        looks them up here rather than copying them).
        """
        child = AgentRegistry(parent=self)
        for folder in folders:
            child.load_folder(folder)
        return child

    def _lineage(self) -> Iterator[AgentRegistry]:
        """This registry, then its parent, and so on: where a look-up searches, in order."""
        registry: AgentRegistry | None = self
        while registry is not None:
            yield registry
            registry = registry.parent

    def _find(self, key: str) -> type[BaseAgent] | None:
        return next((r._by_key[key] for r in self._lineage() if key in r._by_key), None)

    def hidden(self, agent_type: str) -> type[BaseAgent] | None:
        """The custom class whose short name ``agent_type`` is, when another type has it.

        ``SummaryAgent`` would also be ``Summary``, but ``summary`` is a built-in:
        the CSV's ``Summary`` means the built-in, and the agent factory warns
        that the custom class is reached only by its full name.
        """
        key = normalise_type(agent_type)
        return next((r._hidden[key] for r in self._lineage() if key in r._hidden), None)

    def _loaded(self, folder: Path) -> bool:
        return any(folder in r._folders for r in self._lineage())

    def register(self, name: str, agent_class: type[BaseAgent], *, replace: bool = False) -> None:
        key = normalise_type(name)
        existing = self._find(key)
        if existing is not None and existing is not agent_class and not replace:
            raise AgentError(
                f"agent type {name!r} is defined twice: by {_origin(existing)} and by "
                f"{_origin(agent_class)}; remove or rename one"
            )
        self._by_key[key] = agent_class
        self._names.setdefault(key, name)

    @property
    def names(self) -> list[str]:
        """Canonical names of every known type (for validation and suggestions)."""
        inherited = self.parent.names if self.parent is not None else []
        return list(dict.fromkeys([*inherited, *self._names.values()]))

    def __contains__(self, agent_type: str) -> bool:
        return self._find(normalise_type(agent_type)) is not None

    def get(self, agent_type: str) -> type[BaseAgent]:
        found = self._find(normalise_type(agent_type))
        if found is None:
            raise AgentError(f"unknown agent type {agent_type!r}")
        return found

    # ------------------------------------------------------------------ custom agents

    def load_folder(self, folder: Path) -> None:
        """Import every ``*.py`` in ``folder`` and register the agent classes it defines.

        A folder is loaded once per registry: the configured folder is often the
        one beside the CSV too, and an application may load many CSVs from it.
        Importing it again would create new class objects for the same names.
        """
        if not folder.is_dir():
            return
        resolved = folder.resolve()
        if self._loaded(resolved):
            return
        self._folders.add(resolved)
        for file in sorted(folder.glob("*.py")):
            if file.name.startswith("_"):
                continue
            for cls in _agent_classes(file):
                self.register(cls.__name__, cls)
                if cls.__name__.endswith("Agent") and len(cls.__name__) > len("Agent"):
                    short = cls.__name__[: -len("Agent")]
                    if short not in self:
                        self.register(short, cls)
                    elif self.get(short) is not cls:
                        self._hidden[normalise_type(short)] = cls


def _agent_classes(file: Path) -> list[type[BaseAgent]]:
    module_name = f"agentmap_custom_agents.{file.parent.name}.{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise AgentError(f"{file}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, SyntaxError):
            line = exc.lineno
        else:
            target = file.resolve()
            frames = [
                f
                for f in traceback.extract_tb(exc.__traceback__)
                if Path(f.filename).resolve() == target
            ]
            line = frames[-1].lineno if frames else None
        raise AgentError(
            f"{file}:{line or 1}: custom agent module failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseAgent)
        and obj.__module__ == module_name
        and not inspect.isabstract(obj)
    ]


def _origin(agent_class: type) -> str:
    """``Class (path/to/file.py)``: two custom_agents folders may hold same-named modules."""
    module = sys.modules.get(agent_class.__module__)
    file = getattr(module, "__file__", None)
    name = f"{agent_class.__module__}.{agent_class.__qualname__}"
    return f"{name} ({file})" if file else name
