"""CSV workflow files -> validated, immutable ``WorkflowSpec`` / ``GraphSpec``.

The CSV format is documented in ``docs/csv-reference.md``. This package uses the
standard library only, so loading and checking a workflow never pulls in an
LLM SDK or a service backend.
"""

from agentmap.errors import Diagnostic, WorkflowError
from agentmap.workflow.columns import ALIASES, FIELDS
from agentmap.workflow.loader import load_graph, load_workflow, parse_workflow_ref, select_graph
from agentmap.workflow.spec import FieldMapping, GraphSpec, NodeSpec, WorkflowSpec

__all__ = [
    "ALIASES",
    "FIELDS",
    "Diagnostic",
    "FieldMapping",
    "GraphSpec",
    "NodeSpec",
    "WorkflowError",
    "WorkflowSpec",
    "load_graph",
    "load_workflow",
    "parse_workflow_ref",
    "select_graph",
]
