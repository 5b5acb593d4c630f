"""AgentMap: LLM-agent workflows written as CSV rows.

The top-level package stays import-light on purpose (``agentmap --help`` must
start fast), so it re-exports only the small, dependency-free core.

Importing it first checks that ``containers`` (AgentMap's wiring, a top-level
package installed beside this one) is not shadowed by a user's own module of
that name: see ``agentmap._shadowing``.
"""

from typing import TYPE_CHECKING

from agentmap import _shadowing
from agentmap._version import __version__
from agentmap.errors import AgentMapError, ConfigurationError, WorkflowError

if TYPE_CHECKING:  # type checkers see the real decorator; at run time it loads on first use
    from agentmap.services.tools.core import tool

try:
    _shadowing.check_containers()
except AgentMapError as _error:
    if not _shadowing.is_agentmap_command():
        raise
    # The CLI's handler cannot run yet (its module is being imported), so end
    # the command as it ends on any user error: one line, exit status 2.
    import sys

    print(f"error: {_error}", file=sys.stderr)
    raise SystemExit(_error.exit_code) from None

__all__ = ["AgentMapError", "ConfigurationError", "WorkflowError", "__version__", "tool"]


def __getattr__(name: str) -> object:
    # ``agentmap.tool`` is imported on first use, so ``import agentmap`` stays light.
    if name == "tool":
        from agentmap.services.tools.core import tool

        return tool
    raise AttributeError(f"module 'agentmap' has no attribute {name!r}")
