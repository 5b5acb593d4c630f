"""``orchestrator``: send the input to the one success target whose Description fits it.

The candidates are the node's success targets (``Success_Next``, else
``Edge``), read from the running node (:func:`current_node`), so
``Billing|Shipping|General`` means *one of these* (the reserved ``__next__``
key), never a fan-out. Each candidate is described by its Description column,
its Context ``keywords`` and its name; the orchestrator's Context ``nodes``
(``{"Billing": "payments and refunds"}``) overrides the Description.

Three ways to choose (Context ``matching``):

- ``keyword``: deterministic, no LLM. A candidate scores 1 when the input names
  it; otherwise its score is the share of the input's words (lower-cased, plural
  ``s`` removed, common words such as "the" or "please" ignored) found in the
  candidate's name, Description and keywords. The best score is the
  confidence; a tie for the best gives confidence 0 (the input does not tell
  them apart).
- ``llm``: the model is given the candidates and asked for exactly one name.
  An exact answer has confidence 1, a reply that mentions a candidate
  :data:`MENTION_CONFIDENCE` (the first one mentioned wins), a reply naming
  none 0.
- ``tiered`` (default): keyword first; the LLM only when the keyword
  confidence is below ``confidence_threshold``.

A choice below ``confidence_threshold`` (or none) goes to ``default_target``;
without one the node fails, so its Failure_Next applies.

Like ``summary``, the class is chosen by Context: only an orchestrator that may
call the model (``llm``, ``tiered``) is an :class:`LLMOrchestratorAgent` that
declares ``LLMCapableAgent``, so a keyword-only router never builds the LLM
service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from agentmap.agents.builtin._llm import llm_options
from agentmap.agents.builtin._options import ConfiguredAgent, bad_context, choice
from agentmap.agents.builtin.formatting import as_text
from agentmap.agents.prompt_template import placeholders, render_prompt
from agentmap.runtime.context import NodeContext, current_node
from agentmap.runtime.keys import NEXT_KEY
from agentmap.services.protocols import LLMCapableAgent
from agentmap.workflow.spec import NodeSpec

__all__ = [
    "MENTION_CONFIDENCE",
    "Candidate",
    "Choice",
    "LLMOrchestratorAgent",
    "OrchestratorAgent",
    "keyword_choice",
    "pick_from_reply",
]

_MATCHING = ("tiered", "keyword", "llm")
#: AgentMap's names for the same modes (Context ``matching_strategy``).
_ALIASES = {"algorithm": "keyword"}
DEFAULT_THRESHOLD = 0.6
#: Confidence of an LLM reply that is not exactly a candidate name but mentions one.
MENTION_CONFIDENCE = 0.8

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_COMMON_WORDS = """
    a about after again all also am an and any are as at be been before being both but by
    can could did do does doing done during each few for from further get got had has have
    having he hello her here hers him his how hi i if in into is it its just let like me
    more most must my need no nor not now of off on once only or other our ours out over
    own please same she should so some such than thank thanks that the their theirs them
    then there these they this those through to too under until up us very want was we
    were what when where which while who whom why will with would you your yours
"""
#: Words that say nothing about where a request should go.
STOPWORDS = frozenset(_COMMON_WORDS.split())


def _stem(word: str) -> str:
    """Plural to singular, roughly: refunds -> refund, boxes -> box, queries -> query."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased and singular; ``CamelCase`` is split."""
    return [_stem(w) for w in _WORD.findall(_CAMEL.sub(" ", text).lower())]


def _content(tokens: Iterable[str]) -> set[str]:
    return {w for w in tokens if w not in STOPWORDS}


@dataclass(frozen=True, slots=True)
class Candidate:
    """A target the orchestrator may choose."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()

    @property
    def phrase(self) -> tuple[str, ...]:
        return tuple(words(self.name))

    @property
    def vocabulary(self) -> set[str]:
        return _content(words(" ".join((self.name, self.description, *self.keywords))))


@dataclass(frozen=True, slots=True)
class Choice:
    target: str | None
    confidence: float
    #: ``keyword``, ``llm``, ``default`` or ``single`` (only one target).
    method: str


def _contains(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(tuple(tokens[i : i + n]) == tuple(phrase) for i in range(len(tokens)))


def keyword_choice(text: str, candidates: Sequence[Candidate]) -> Choice:
    """The best candidate by word overlap, with a confidence from 0 to 1."""
    tokens = words(text)
    content = _content(tokens)
    scores: list[float] = []
    for candidate in candidates:
        if _contains(tokens, candidate.phrase):
            scores.append(1.0)
        elif content:
            scores.append(len(content & candidate.vocabulary) / len(content))
        else:
            scores.append(0.0)
    best = max(scores, default=0.0)
    if best == 0.0:
        return Choice(None, 0.0, "keyword")
    winners = [c.name for c, score in zip(candidates, scores, strict=True) if score == best]
    return Choice(winners[0], best if len(winners) == 1 else 0.0, "keyword")


def pick_from_reply(reply: str, names: Sequence[str]) -> tuple[str | None, float]:
    """The candidate an LLM reply names, and how sure that reading is."""
    cleaned = reply.strip().strip("`'\"*.:!").strip()
    exact = {name.lower(): name for name in names}
    if cleaned.lower() in exact:
        return exact[cleaned.lower()], 1.0
    found: str | None = None
    at = len(reply) + 1
    for name in names:
        match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", reply, re.IGNORECASE)
        if match is None:
            continue
        if match.start() < at or (
            match.start() == at and found is not None and len(name) > len(found)
        ):
            found, at = name, match.start()
    return (found, MENTION_CONFIDENCE) if found is not None else (None, 0.0)


def route_text(inputs: Mapping[str, Any]) -> str:
    """The text to route: the single input, or the inputs' values one per line.

    The agent leaves out the inputs its Prompt uses (they instruct the LLM).
    """
    values = [as_text(value, pretty=False) for value in inputs.values()]
    return "\n".join(value for value in values if value.strip())


def _matching_of(context: Mapping[str, Any] | None) -> Any:
    context = context or {}
    value = context.get("matching", context.get("matching_strategy", "tiered"))
    return _ALIASES.get(value, value) if isinstance(value, str) else value


def _keywords(value: Any) -> tuple[str, ...] | None:
    """A candidate's Context ``keywords``: a list of text, or text split on commas."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(k.strip() for k in value.split(",") if k.strip())
    if isinstance(value, list | tuple) and all(isinstance(k, str) for k in value):
        return tuple(value)
    return None


class OrchestratorAgent(ConfiguredAgent):
    """Context: ``matching`` (``tiered``, ``keyword``, ``llm``), ``confidence_threshold``
    (0..1, default 0.6), ``default_target``, ``nodes`` ({name: description}); for the
    LLM: ``provider``, ``model``, ``temperature`` (default 0), ``max_tokens``, ``cache``.
    The Prompt, if any, is added to the LLM's instructions.

    Output: ``{"target", "confidence", "method"}`` (plus ``__next__``, which the
    runner removes); ``Output_Field`` ``route=target`` keeps just the name.
    """

    kind: ClassVar[str] = "orchestrator"

    def __new__(
        cls,
        name: str,
        prompt: str = "",
        context: Mapping[str, Any] | None = None,
        **services: Any,
    ) -> OrchestratorAgent:
        if cls is OrchestratorAgent and _matching_of(context) != "keyword":
            return super().__new__(LLMOrchestratorAgent)
        return super().__new__(cls)

    def configure(self) -> None:
        kind, name, ctx = self.kind, self.name, self.context
        if "matching" in ctx and "matching_strategy" in ctx:
            raise bad_context(
                kind, name, "matching_strategy", "repeats 'matching' (its AgentMap name); keep one"
            )
        key = "matching_strategy" if "matching_strategy" in ctx else "matching"
        self._matching = choice(kind, name, key, _matching_of(ctx), _MATCHING)
        if self._matching != "keyword" and LLMCapableAgent not in type(self).__mro__:
            raise bad_context(
                kind,
                name,
                key,
                f"is {self._matching!r}, which asks the LLM, but {type(self).__name__} does not "
                "declare LLMCapableAgent; derive it from LLMOrchestratorAgent instead",
            )
        threshold = ctx.get("confidence_threshold", DEFAULT_THRESHOLD)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            threshold = -1
        if not 0 <= threshold <= 1:
            raise bad_context(
                kind,
                name,
                "confidence_threshold",
                f"must be a number from 0 to 1, got {ctx.get('confidence_threshold')!r}",
            )
        self._threshold = float(threshold)
        default = ctx.get("default_target")
        if default is not None and (not isinstance(default, str) or not default.strip()):
            raise bad_context(kind, name, "default_target", f"must be a node name, got {default!r}")
        self._default = default.strip() if isinstance(default, str) else None
        nodes = ctx.get("nodes", {})
        if not isinstance(nodes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in nodes.items()
        ):
            raise bad_context(
                kind,
                name,
                "nodes",
                f'must map node names to descriptions ({{"Billing": "payments and refunds"}}), '
                f"got {nodes!r}",
            )
        self._descriptions = {k.strip(): v.strip() for k, v in nodes.items()}
        self._options = llm_options(kind, name, ctx, temperature=0.0)
        self._used = frozenset(placeholders(self.prompt)) if self.prompt else frozenset()

    # ------------------------------------------------------------------ routing

    async def process(self, inputs: dict[str, Any]) -> Any:
        try:
            ctx = current_node()
        except LookupError:
            raise RuntimeError(
                f"{self.kind} node {self.name!r} chooses among its success targets, so it only "
                "runs inside a graph run (there is no current node)"
            ) from None
        targets = self._check_targets(ctx.node.on_success)
        if len(targets) == 1:
            return self._result(Choice(targets[0], 1.0, "single"))
        candidates = self._candidates(ctx, targets)
        text = route_text({k: v for k, v in inputs.items() if k not in self._used} or inputs)
        found = Choice(None, 0.0, self._matching)
        if text.strip():
            if self._matching != "llm":
                found = keyword_choice(text, candidates)
            if self._matching == "llm" or (
                self._matching == "tiered" and found.confidence < self._threshold
            ):
                found = await self._ask_llm(text, candidates, inputs)
        if found.target is not None and found.confidence >= self._threshold:
            return self._result(found)
        if self._default is not None:
            return self._result(Choice(self._default, found.confidence, "default"))
        raise ValueError(self._no_choice(found, text, targets))

    def _check_targets(self, targets: tuple[str, ...]) -> tuple[str, ...]:
        where = f"{self.kind} node {self.name!r}"
        listed = ", ".join(targets) or "none"
        if not targets:
            raise ValueError(
                f"{where} has no success targets to choose from; list them in Success_Next "
                "(Billing|Shipping|General)"
            )
        if self._default is not None and self._default not in targets:
            raise ValueError(
                f"{where}: Context default_target {self._default!r} is not one of its success "
                f"targets ({listed}); list it in Success_Next or Edge, or pick one of those"
            )
        unknown = [n for n in self._descriptions if n not in targets]
        if unknown:
            raise ValueError(
                f"{where}: Context nodes names {', '.join(repr(n) for n in unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not among its success targets ({listed})"
            )
        return targets

    def _candidates(self, ctx: NodeContext, targets: Sequence[str]) -> list[Candidate]:
        return [
            Candidate(name, description, keywords)
            for name, (description, keywords) in self._candidate_descriptions(ctx, targets).items()
        ]

    def _candidate_descriptions(
        self, ctx: NodeContext, targets: Sequence[str]
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        """(description, keywords) per target: Context ``nodes``, else the target's row."""
        # NodeContext.graph_nodes: every node of the graph being run (None outside the runner).
        graph_nodes: Mapping[str, NodeSpec] = getattr(ctx, "graph_nodes", None) or {}
        out: dict[str, tuple[str, tuple[str, ...]]] = {}
        for target in targets:
            spec = graph_nodes.get(target)
            description = self._descriptions.get(target)
            if description is None:
                description = spec.description if spec is not None else ""
            raw = spec.context.get("keywords") if spec is not None else None
            keywords = _keywords(raw)
            if keywords is None:
                raise ValueError(
                    f"{self.kind} node {self.name!r}: candidate {target!r} has Context keywords "
                    f"{raw!r}; write a list of words or one text with commas"
                )
            out[target] = (description, keywords)
        return out

    async def _ask_llm(
        self, text: str, candidates: Sequence[Candidate], inputs: Mapping[str, Any]
    ) -> Choice:
        lines = [
            "You route requests in a workflow: choose the one node that should handle the "
            "user's input.",
            "",
            "Nodes:",
            *(
                f"- {c.name}: {c.description}" if c.description else f"- {c.name}"
                for c in candidates
            ),
        ]
        if self.prompt:
            lines += ["", render_prompt(self.prompt, inputs, node=self.name)]
        lines += ["", "Answer with exactly one node name from the list and nothing else."]
        messages = [
            {"role": "system", "content": "\n".join(lines)},
            {"role": "user", "content": text},
        ]
        reply = await self._options.call(self.llm_service, messages)
        target, confidence = pick_from_reply(reply, [c.name for c in candidates])
        self.log_debug("LLM reply {!r} -> {} ({})", reply[:100], target, confidence)
        return Choice(target, confidence, "llm")

    def _result(self, found: Choice) -> dict[str, Any]:
        self.log_debug(
            "chose {} by {} (confidence {:.2f})", found.target, found.method, found.confidence
        )
        return {
            NEXT_KEY: found.target,
            "target": found.target,
            "confidence": round(found.confidence, 3),
            "method": found.method,
        }

    def _no_choice(self, found: Choice, text: str, targets: Sequence[str]) -> str:
        where = f"{self.kind} node {self.name!r}"
        fix = "set Context default_target, or handle the failure with Failure_Next"
        if not text.strip():
            return f"{where}: nothing to route, the input is empty; {fix}"
        if found.target is None:
            how = "the LLM's reply names" if found.method == "llm" else "the input matches"
            return f"{where}: {how} none of its targets ({', '.join(targets)}); {fix}"
        if found.confidence == 0.0:
            return f"{where}: the input matches several targets equally well; {fix}"
        return (
            f"{where}: no confident choice: {found.target!r} by {found.method} at "
            f"{found.confidence:.2f}, below confidence_threshold {self._threshold:g}; {fix}"
        )


class LLMOrchestratorAgent(OrchestratorAgent, LLMCapableAgent):
    """An orchestrator that may ask the LLM (``matching`` ``llm`` or ``tiered``)."""
