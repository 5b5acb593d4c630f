"""The keys of an agent's result that the runner acts on instead of writing them out.

One definition, imported by the runner and by the built-in agents that use
them, so a renamed key cannot leave an agent writing a field the runner no
longer reads.
"""

from __future__ import annotations

__all__ = ["ERROR_KEY", "NEXT_KEY", "RESERVED_KEYS", "STATE_KEY", "VALUE_KEY"]

#: A truthy value fails the node (the error-first convention).
ERROR_KEY = "error"
#: Picks one of the node's listed success targets.
NEXT_KEY = "__next__"
#: Extra state writes besides the Output_Field (an LLM agent's memory).
STATE_KEY = "__state__"
#: With ``__next__``/``__state__`` and nothing else: the Output_Field's value itself.
VALUE_KEY = "__value__"
#: Every key above: a result whose other content is data must not use them.
RESERVED_KEYS = (ERROR_KEY, NEXT_KEY, STATE_KEY, VALUE_KEY)
