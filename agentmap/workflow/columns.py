"""Header matching: which CSV column holds which field.

Workflow files come from spreadsheets, hand editing and older AgentMap
versions, so one field is spelt many ways (``Success_Next``, ``next on
success``, ``SuccessTarget``). Headers are compared after case-folding and
dropping ``_``, ``-`` and whitespace, and every alias of the design's table is
accepted. Everything downstream then speaks only the canonical names below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentmap.errors import Diagnostic
from agentmap.workflow.suggest import suggest

__all__ = ["ALIASES", "FIELDS", "Header", "field_for", "match_header", "normalize"]

#: Canonical column names, in the order the documentation lists them.
FIELDS: tuple[str, ...] = (
    "GraphName",
    "Node",
    "AgentType",
    "Edge",
    "Success_Next",
    "Failure_Next",
    "Input_Fields",
    "Output_Field",
    "Prompt",
    "Context",
    "Description",
    "Tool_Source",
    "Available_Tools",
)

#: Other accepted spellings of each column (AgentMap-compatible).
ALIASES: dict[str, tuple[str, ...]] = {
    "GraphName": ("graph_name", "Graph", "WorkflowName", "Workflow"),
    "Node": ("node_name", "NodeName", "Step", "StepName", "Name"),
    "AgentType": ("agent_type", "Agent", "Type"),
    "Edge": ("next_node", "NextNode", "Target", "Next"),
    "Success_Next": ("next_on_success", "SuccessTarget", "on_success"),
    "Failure_Next": ("next_on_failure", "FailureTarget", "on_failure"),
    "Input_Fields": ("Inputs", "InputFields"),
    "Output_Field": ("Output", "OutputField"),
    "Prompt": ("Instructions", "Template", "prompt_template"),
    "Context": ("Config", "Configuration"),
    "Description": ("desc", "Details"),
    "Tool_Source": ("ToolSource", "ToolFile", "ToolModule"),
    "Available_Tools": ("AvailableTools", "Tools", "ToolList"),
}

_IGNORED = str.maketrans("", "", "_- \t")
_LOOKUP: dict[str, str] = {}


def normalize(name: str) -> str:
    """The form headers are compared in: case-folded, without ``_``, ``-`` and whitespace."""
    return name.casefold().translate(_IGNORED)


for _field in FIELDS:
    for _spelling in (_field, *ALIASES[_field]):
        _LOOKUP[normalize(_spelling)] = _field


def field_for(header: str) -> str | None:
    """The canonical field a header cell names, or None for an unknown column."""
    return _LOOKUP.get(normalize(header))


@dataclass(frozen=True, slots=True)
class Header:
    """Where each field sits in a row: the only thing row parsing needs from the header."""

    index: dict[str, int]
    width: int
    #: Positions of columns whose header cell is empty; values under them are ignored.
    unnamed: tuple[int, ...] = ()


def match_header(cells: list[str], file: Path, line: int) -> tuple[Header, list[Diagnostic]]:
    """Map header cells to fields; report unknown, duplicate and missing columns."""
    index: dict[str, int] = {}
    unknown: list[str] = []
    unnamed: list[int] = []
    diagnostics: list[Diagnostic] = []
    for position, cell in enumerate(cells):
        if not cell:
            unnamed.append(position)
            continue
        field = field_for(cell)
        if field is None:
            unknown.append(cell)
        elif field in index:
            first = cells[index[field]]
            diagnostics.append(
                Diagnostic(
                    f"columns {first!r} and {cell!r} both name the {field} column; keep one",
                    file=file,
                    line=line,
                    column=field,
                )
            )
        else:
            index[field] = position
    if unknown:
        diagnostics.append(_unknown_columns(unknown, file, line))
    if "Node" not in index:
        accepted = ", ".join(("Node", *ALIASES["Node"]))
        found = ", ".join(repr(c) for c in cells if c) or "nothing"
        diagnostics.append(
            Diagnostic(
                f"the header has no Node column (accepted names: {accepted}); header has {found}",
                file=file,
                line=line,
                column="Node",
            )
        )
    return Header(index, len(cells), tuple(unnamed)), diagnostics


def _unknown_columns(unknown: list[str], file: Path, line: int) -> Diagnostic:
    def hint(name: str) -> str | None:
        match = suggest(normalize(name), _LOOKUP)
        return _LOOKUP[match] if match is not None else None

    if len(unknown) == 1:
        message = f"unknown column {unknown[0]!r} is ignored"
        return Diagnostic(
            message, file=file, line=line, suggestion=hint(unknown[0]), severity="warning"
        )
    parts = []
    for name in unknown:
        fix = hint(name)
        parts.append(f"{name!r} (did you mean {fix!r}?)" if fix else repr(name))
    message = f"unknown columns are ignored: {', '.join(parts)}"
    return Diagnostic(message, file=file, line=line, severity="warning")
