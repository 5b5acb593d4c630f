"""What ``agentmap scaffold`` writes: typed stubs for the agent types and routers a workflow lacks.

This module only *plans*: from a loaded workflow and a way to tell whether a
type is known, it returns the files to write, with their text. The command
(``agentmap/cli/scaffold.py``) decides what to do about files that exist.
Keeping the generator pure lets its output be checked (ruff, mypy --strict,
pytest) without a CLI around it.

What is generated, and why:

- an agent class per unknown type, in ``custom_agents/`` beside the CSV (the
  folder the registry searches), named so that the registry finds it under the
  CSV's spelling (``WordCount`` -> ``WordCountAgent``). Its bases declare the
  capability protocols the nodes' Context ``services`` asks for, because the
  factory injects a service only into classes that list its protocol;
- a unit test per agent in ``tests/`` beside the CSV, which looks the class up
  the way a run does and fails until someone writes both the agent and the
  test's expectation (a stub that passes would hide unfinished work);
- a ``func:`` router stub per missing function, in the module file the router
  loader would search first (appended when that file exists without it).
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow.parsing import FUNC_PREFIX, is_func_target
from agentmap.workflow.spec import (
    CUSTOM_AGENTS_FOLDER,
    FUNCTIONS_FOLDER,
    GraphSpec,
    NodeSpec,
    beside_workflow,
)
from agentmap.workflow.subgraphs import SUBGRAPH_AGENT

__all__ = ["SERVICES", "ScaffoldFile", "class_name_for", "module_name_for", "plan_scaffold"]

TESTS_FOLDER = "tests"

#: Context ``services`` name -> (capability protocol, service protocol, attribute).
SERVICES: dict[str, tuple[str, str, str]] = {
    "llm": ("LLMCapableAgent", "LLMServiceProtocol", "llm_service"),
    "cache": ("CacheCapableAgent", "CacheProtocol", "cache_service"),
    "storage": ("StorageCapableAgent", "StorageServiceProtocol", "storage_service"),
    "prompt": ("PromptCapableAgent", "PromptServiceProtocol", "prompt_service"),
}
#: AgentMap 0.9 names per storage kind; here one storage service serves them all.
SERVICE_ALIASES = {"csv": "storage", "json": "storage", "file": "storage", "prompts": "prompt"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ScaffoldFile:
    """One file to write. ``append``: add ``content`` to the end of an existing file."""

    path: Path
    content: str
    kind: str  # "agent", "test" or "router"
    what: str
    append: bool = False


@dataclass
class _Agent:
    class_name: str
    type_name: str
    nodes: list[NodeSpec] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


def class_name_for(agent_type: str) -> str:
    """``WordCount`` -> ``WordCountAgent``: the registry registers it under ``WordCount`` too."""
    name = agent_type[0].upper() + agent_type[1:]
    return name if name.lower().endswith("agent") else f"{name}Agent"


def module_name_for(class_name: str) -> str:
    """``WordCountAgent`` -> ``word_count``; never starting with ``_`` (the registry skips those)."""
    short = class_name[: -len("Agent")] if class_name.endswith("Agent") else class_name
    snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", short)
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", snake).lower()
    return re.sub(r"_+", "_", snake).strip("_") or "agent"


def _services(node: NodeSpec) -> list[str]:
    raw = node.context.get("services")
    if raw is None:
        return []
    items = re.split(r"[,|]", raw) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise WorkflowError(
            Diagnostic.for_node(
                node, f"Context 'services' must be a list of names, got {raw!r}", column="Context"
            )
        )
    found: list[str] = []
    for item in (s.strip().lower() for s in items):
        name = SERVICE_ALIASES.get(item, item)
        if not item:
            continue
        if name not in SERVICES:
            known = ", ".join(SERVICES)
            raise WorkflowError(
                Diagnostic.for_node(
                    node,
                    f"Context 'services' names {item!r}, which AgentMap does not have; the "
                    f"services are {known} (csv, json and file mean storage)",
                    column="Context",
                )
            )
        found.append(name)
    return found


def _missing_agents(graphs: Iterable[GraphSpec], known: Callable[[str], bool]) -> list[_Agent]:
    agents: dict[str, _Agent] = {}
    errors: list[Diagnostic] = []
    for graph in graphs:
        for node in graph.nodes.values():
            if node.agent_type == SUBGRAPH_AGENT or known(node.agent_type):
                continue
            if not _IDENTIFIER.fullmatch(node.agent_type):
                message = (
                    f"agent type {node.agent_type!r} cannot be a Python class name, so no "
                    "custom agent can have it; use letters, digits and _ only"
                )
                errors.append(Diagnostic.for_node(node, message, column="AgentType"))
                continue
            class_name = class_name_for(node.agent_type)
            agent = agents.setdefault(class_name.lower(), _Agent(class_name, node.agent_type))
            agent.nodes.append(node)
            for service in _services(node):
                if service not in agent.services:
                    agent.services.append(service)
    if errors:
        raise WorkflowError(errors)
    return list(agents.values())


def _text(text: str) -> str:
    """``text`` made safe inside a generated docstring."""
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _docstring(indent: str, *paragraphs: str) -> list[str]:
    """A docstring's lines, wrapped to fit 88 columns (ruff's default line length)."""
    width = 84 - len(indent)
    wrapped = [textwrap.wrap(_text(p), width) or [""] for p in paragraphs]
    if len(wrapped) == 1 and len(wrapped[0]) == 1 and len(wrapped[0][0]) <= width - 2:
        return [f'{indent}"""{wrapped[0][0]}"""']
    lines = [f'{indent}"""{wrapped[0][0]}', *(indent + line for line in wrapped[0][1:])]
    for paragraph in wrapped[1:]:
        lines += ["", *(indent + line for line in paragraph)]
    return [*lines, f'{indent}"""']


def _literal(text: str) -> str:
    """A string literal as ruff format writes it: double quotes, unless that needs escapes."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def _where(node: NodeSpec) -> str:
    return f"{node.file.name if node.file else '<workflow>'}:{node.line}"


def _agent_source(agent: _Agent, csv: Path) -> str:
    node = agent.nodes[0]
    used_by = ", ".join(f"{n.name} ({_where(n)})" for n in agent.nodes)
    inputs = ", ".join(f.name for f in node.inputs) or "none"
    outputs = [f.name for f in node.outputs]
    if len(outputs) > 1:
        returns = "a dict with the keys " + ", ".join(outputs)
    elif outputs:
        returns = f"the value of {outputs[0]}"
    else:
        returns = "any value (the node has no Output_Field)"
    protocols = [SERVICES[s] for s in agent.services]
    names = sorted({p for cap, svc, _ in protocols for p in (cap, svc)})
    header = f"The {agent.type_name} agent of {csv.name}, written by `agentmap scaffold`."
    lines = [
        *_docstring("", header, f"Used by {used_by}."),
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "from agentmap.agents.base_agent import BaseAgent",
    ]
    if names:
        lines.append("from agentmap.services.protocols import (")
        lines += [f"    {name}," for name in names]
        lines.append(")")
    bases = ", ".join(["BaseAgent", *(cap for cap, _, _ in protocols)])
    description = node.description or f"What node {node.name} does: describe it here."
    head = f"class {agent.class_name}({bases}):"
    if len(head) > 88:  # as ruff format writes it
        head = "\n".join(
            [f"class {agent.class_name}(", *(f"    {b.strip()}," for b in bases.split(",")), "):"]
        )
    lines += ["", "", head, *_docstring("    ", description), ""]
    for service in agent.services:
        _, protocol, attribute = SERVICES[service]
        signature = f"    def configure_{attribute}(self, {attribute}: {protocol}) -> None:"
        if len(signature) > 88:
            signature = "\n".join(
                [
                    f"    def configure_{attribute}(",
                    f"        self, {attribute}: {protocol}",
                    "    ) -> None:",
                ]
            )
        lines += [
            signature,
            f'        """Receives the {service} service (the agent factory calls this)."""',
            f"        super().configure_{attribute}({attribute})",
            "",
        ]
    uses = ", ".join(f"self.{SERVICES[s][2]}" for s in agent.services)
    about = f"Inputs: {inputs}. Return {returns}."
    fail = "Return {'error': '...'} (or raise) to fail the node."
    lines += [
        "    def process(self, inputs: dict[str, Any]) -> Any:",
        *_docstring("        ", about, fail, *([f"Services: {uses}."] if uses else [])),
        '        raise NotImplementedError("process() is not written yet")',
        "",
    ]
    return "\n".join(lines)


def _test_source(agent: _Agent, csv: Path) -> str:
    node = agent.nodes[0]
    values = [f"        {_literal(f.name)}: {_literal('example ' + f.name)}," for f in node.inputs]
    call = ["    inputs = {", *values, "    }", "    result = agent.process(inputs)"]
    if not values:
        call = ["    result = agent.process({})"]
    configure = [f"    agent.configure_{SERVICES[s][2]}(Mock())" for s in agent.services]
    lines = [
        *_docstring(
            "",
            f"Unit test of {agent.class_name}, written by `agentmap scaffold`.",
            "It fails until the agent is written and the expected result filled in.",
        ),
        "",
        "from __future__ import annotations",
        "",
        "from pathlib import Path",
    ]
    if configure:
        lines.append("from unittest.mock import Mock")
    lines += [
        "",
        "import pytest",
        "from containers.application import Application",
        "",
        f'WORKFLOW = Path(__file__).resolve().parents[1] / "{csv.name}"',
        "",
        "",
        f"def test_{module_name_for(agent.class_name)}(agentmap_app: Application) -> None:",
        "    # Found the way a run finds it: custom_agents/ beside the workflow.",
        "    registry = agentmap_app.registry_for([WORKFLOW])",
        f'    agent = registry.get("{agent.type_name}")({_literal(node.name)}, "", {{}})',
        *configure,
        *call,
        '    pytest.fail(f"assert on the expected result instead: got {result!r}")',
        "",
    ]
    return "\n".join(lines)


def _defined_functions(file: Path) -> set[str]:
    """Top-level function names of ``file``, read without importing it (it may be broken)."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for item in tree.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(item.name)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in item.names)
    return names


def _router_function(name: str, node: NodeSpec, typed: bool) -> str:
    others = ", ".join(n for n in node.targets if not is_func_target(n)) or "none"
    state = "Mapping[str, Any]" if typed else "object"
    return "\n".join(
        [
            f"def {name}(state: {state}) -> str | list[str] | None:",
            *_docstring(
                "    ",
                f"Router of node {node.name} ({_where(node)}): return the next node's name, "
                "a list of names (run in parallel) or None (the branch ends here).",
                f"The node's other targets: {others}.",
            ),
            '    raise NotImplementedError("this router is not written yet")',
            "",
        ]
    )


def _routers(graphs: Iterable[GraphSpec], csv: Path, folders: Sequence[Path]) -> list[ScaffoldFile]:
    wanted: dict[Path, dict[str, NodeSpec]] = {}
    errors: list[Diagnostic] = []
    for graph in graphs:
        for node in graph.nodes.values():
            for ref in (t for t in node.targets if is_func_target(t)):
                module, _, function = ref[len(FUNC_PREFIX) :].strip().rpartition(".")
                if not module:
                    message = f"router {ref} names no module; write func:module.function"
                    errors.append(Diagnostic.for_node(node, message))
                    continue
                relative = Path(*module.split(".")).with_suffix(".py")
                candidates = [
                    *(f / relative for f in folders),
                    beside_workflow(csv, FUNCTIONS_FOLDER) / relative,
                ]
                file = next((c for c in candidates if c.is_file()), candidates[-1])
                if file.is_file() and function in _defined_functions(file):
                    continue
                wanted.setdefault(file, {}).setdefault(function, node)
    if errors:
        raise WorkflowError(errors)
    planned: list[ScaffoldFile] = []
    for file, functions in wanted.items():
        exists = file.is_file()
        body = "\n\n".join(_router_function(n, node, not exists) for n, node in functions.items())
        what = "router " + ", ".join(f"{n}()" for n in functions)
        if exists:
            planned.append(ScaffoldFile(file, "\n\n" + body, "router", what, append=True))
            continue
        header = "\n".join(
            [
                *_docstring("", f"Routers of {csv.name}, written by `agentmap scaffold`."),
                "",
                "from __future__ import annotations",
                "",
                "from collections.abc import Mapping",
                "from typing import Any",
                "",
                "",
                "",
            ]
        )
        planned.append(ScaffoldFile(file, header + body, "router", what))
    return planned


def plan_scaffold(
    graphs: Sequence[GraphSpec],
    csv: Path,
    known: Callable[[str], bool],
    functions: Sequence[Path] = (),
) -> list[ScaffoldFile]:
    """The files that would give ``graphs`` (of the CSV ``csv``) every agent and router.

    ``known`` says whether an agent type is built in or already found;
    ``functions`` are the configured functions folders, searched before the
    ``functions/`` folder beside the CSV (the router loader's order).
    Raises ``WorkflowError`` naming the node for what no stub can fix.
    """
    planned: list[ScaffoldFile] = []
    agents_folder = beside_workflow(csv, CUSTOM_AGENTS_FOLDER)
    tests_folder = beside_workflow(csv, TESTS_FOLDER)
    taken: set[str] = set()
    for agent in _missing_agents(graphs, known):
        module = module_name_for(agent.class_name)
        while module in taken:  # WordCount and Word_Count: one file each
            module += "_"
        taken.add(module)
        what = f"agent type {agent.type_name} (class {agent.class_name})"
        planned.append(
            ScaffoldFile(agents_folder / f"{module}.py", _agent_source(agent, csv), "agent", what)
        )
        test = tests_folder / f"test_{module}.py"
        planned.append(
            ScaffoldFile(test, _test_source(agent, csv), "test", f"test of {agent.class_name}")
        )
    planned += _routers(graphs, csv, functions)
    return planned
