"""The keys the runner acts on or writes: in an agent's result, and in the state.

One definition, imported by the runner and by the built-in agents that use
them, so a renamed key cannot leave an agent writing a field the runner no
longer reads.
"""

from __future__ import annotations

__all__ = [
    "ERRORS_KEY",
    "ERROR_KEY",
    "NEXT_KEY",
    "RESERVED_KEYS",
    "RUNTIME_KEYS",
    "STATE_KEY",
    "SUCCESS_KEY",
    "VALUE_KEY",
]

# -- in an agent's result

#: A truthy value fails the node (the error-first convention). Also the state
#: field holding the last failed node's message.
ERROR_KEY = "error"
#: Picks one of the node's listed success targets.
NEXT_KEY = "__next__"
#: Extra state writes besides the Output_Field (an LLM agent's memory).
STATE_KEY = "__state__"
#: With ``__next__``/``__state__`` and nothing else: the Output_Field's value itself.
VALUE_KEY = "__value__"
#: Every key above: a result whose other content is data must not use them.
RESERVED_KEYS = (ERROR_KEY, NEXT_KEY, STATE_KEY, VALUE_KEY)

# -- in the state, written by the runner after every node

#: Every failure of the run so far: ``{node, type, message, attempt}`` dicts.
ERRORS_KEY = "errors"
#: Whether the last node that ran succeeded.
SUCCESS_KEY = "last_action_success"
#: The state fields that are the runner's bookkeeping rather than workflow data.
RUNTIME_KEYS = frozenset({SUCCESS_KEY, ERROR_KEY, ERRORS_KEY})
