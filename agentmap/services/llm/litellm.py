"""The litellm LLM backend — NOT IMPLEMENTED YET (issue #4).

The container's ``llm`` Selector already has its ``litellm`` slot, so the
settings and the wiring are final; only this adapter is missing. Until it
lands, selecting it fails with a message that says so, instead of a run that
silently does nothing. It is the one module that may import litellm, lazily.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, NoReturn

from agentmap.errors import ConfigurationError, MissingExtraError

__all__ = ["LiteLLMService"]


class LiteLLMService:
    def __init__(self, settings: Any) -> None:
        if importlib.util.find_spec("litellm") is None:
            raise MissingExtraError("litellm", "llm", "The litellm LLM backend")
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        self._unfinished()

    @staticmethod
    def _unfinished() -> NoReturn:
        raise ConfigurationError(
            "the litellm LLM backend is not implemented in this version yet (issue #4); "
            "use the scripted fake for now: AGENTMAP_LLM__BACKEND=fake"
        )
