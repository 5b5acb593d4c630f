"""The OpenTelemetry tracker: span trees of real runs, read back from the SDK's in-memory exporter.

The shipped ``TrackerConformance`` suite checks a log of events; an OTel
backend stores spans, not events, so the suite's event-log tests are replaced
here by the span form of the same promises (after a run, each span is
exported once; ``close`` exports what is pending). Everything else runs real
workflows through ``create_application`` with the tracker's provider injected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentmap.agents.base_agent import BaseAgent
from agentmap.batch import run_batch
from agentmap.errors import ConfigurationError
from agentmap.runtime.events import LLMCalled, NodeRetried
from agentmap.runtime.interrupts import interrupt
from agentmap.services.tracking.null import NullTracker
from agentmap.services.tracking.otel import OtelTracker, provider_from_environment
from agentmap.settings import TrackingSettings
from agentmap.testing.tracker_conformance import ReadEvents, TrackerConformance, sample_events
from containers import Application, create_application

HEADER = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Prompt,Context\n"
)
SECRET = "the-state-value-4711"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def otel_tracker(exporter: InMemorySpanExporter) -> Iterator[OtelTracker]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracker = OtelTracker(provider)
    yield tracker
    tracker.close()


@pytest.fixture
def app(otel_tracker: OtelTracker) -> Iterator[Application]:
    application = create_application("test", tracking={"backend": "otel"})
    application.container.agents.registry().register("Flaky", FlakyAgent)
    with application.use(tracker=otel_tracker):
        yield application
    application.close()


class FlakyAgent(BaseAgent):
    """Fails its first ``fails`` attempts (Context), then echoes its input."""

    attempts: ClassVar[dict[str, int]] = {}

    def process(self, inputs: dict[str, Any]) -> Any:
        seen = self.attempts[self.name] = self.attempts.get(self.name, 0) + 1
        if seen <= int(self.context.get("fails", 99)):
            raise ConnectionError(f"attempt {seen} broke")  # retryable by default
        return next(iter(inputs.values()), None)


def run(app: Application, tmp_path: Path, rows: str, state: dict[str, Any]) -> Any:
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + rows, encoding="utf-8")
    _, graph = app.load(csv)
    return app.runner(graph).run(state)


def spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [span for span in spans(exporter) if span.name == name]
    return span


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


# --------------------------------------------------------------------------- conformance


class TestOtelTracker(TrackerConformance):
    """The suite's protocol test as is; its event-log tests in their span form."""

    @pytest.fixture
    def tracker(self, otel_tracker: OtelTracker) -> OtelTracker:
        return otel_tracker

    @pytest.fixture
    def read_events(self, exporter: InMemorySpanExporter) -> ReadEvents:
        # What this backend stores: one record per finished span, in export order.
        return lambda: [{"event": span.name} for span in exporter.get_finished_spans()]

    def test_events_come_back_in_order_after_flush(
        self, tracker: Any, read_events: ReadEvents
    ) -> None:
        for event in sample_events():
            tracker.record(event)
        tracker.flush()
        assert [item["event"] for item in read_events()] == ["node Start", "run G"]

    def test_flush_twice_does_not_duplicate(self, tracker: Any, read_events: ReadEvents) -> None:
        events = sample_events()
        for event in events:
            tracker.record(event)
        tracker.flush()
        tracker.flush()
        tracker.record(events[-1])  # the run is over: a repeated end is ignored
        tracker.flush()
        assert len(read_events()) == 2

    def test_close_flushes(self, tracker: Any, read_events: ReadEvents) -> None:
        for event in sample_events()[:2]:  # a run that never finished
            tracker.record(event)
        assert read_events() == []
        tracker.close()
        assert [item["event"] for item in read_events()] == ["node Start", "run G"]


def test_sample_failed_run_gives_error_spans_with_true_times(
    otel_tracker: OtelTracker, exporter: InMemorySpanExporter
) -> None:
    tracker = otel_tracker
    for event in sample_events():
        tracker.record(event)
    node, run = named(exporter, "node Start"), named(exporter, "run G")
    assert (node.start_time, node.end_time) == (1_100_000_000, 1_300_000_000)
    assert (run.start_time, run.end_time) == (1_000_000_000, 1_400_000_000)
    assert parent_of(node) == run.context.span_id
    assert run.parent is None
    assert node.status.status_code is StatusCode.ERROR
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "bad"
    (exception,) = node.events
    assert exception.name == "exception"
    assert exception.timestamp == 1_200_000_000
    assert dict(exception.attributes or {}) == {
        "exception.type": "ValueError",
        "exception.message": "bad",
        "agentmap.attempt": 1,
    }
    assert (run.attributes or {})["agentmap.status"] == "failed"


def test_events_of_unknown_runs_are_ignored(
    otel_tracker: OtelTracker, exporter: InMemorySpanExporter
) -> None:
    tracker = otel_tracker
    tracker.record(LLMCalled("nope", "G", 1.0, node="A", model="m"))
    tracker.record(NodeRetried("nope", "G", 1.0, node="A", step=1))
    tracker.record(object())
    tracker.close()
    assert spans(exporter) == []


# --------------------------------------------------------------------------- real runs


def test_linear_run_is_one_trace_run_then_nodes_with_route(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    result = run(app, tmp_path, "G,A,echo,B,,x,y,,\nG,B,echo,,,y,z,,\n", {"x": SECRET})
    assert result.success
    root, a, b = named(exporter, "run G"), named(exporter, "node A"), named(exporter, "node B")
    assert {span.context.trace_id for span in spans(exporter)} == {root.context.trace_id}
    assert parent_of(a) == parent_of(b) == root.context.span_id
    assert dict(a.attributes or {}) == {
        "agentmap.node": "A",
        "agentmap.step": 1,
        "agentmap.success": True,
        "agentmap.route": ("B",),
    }
    assert (root.attributes or {})["agentmap.run_id"] == result.run_id
    assert (root.attributes or {})["agentmap.status"] == "completed"
    assert a.end_time <= b.start_time
    assert root.start_time <= a.start_time
    assert b.end_time <= root.end_time


def test_fan_out_branches_are_sibling_spans(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    rows = "G,Start,echo,B|C,,x,x,,\nG,B,echo,,,x,b,,\nG,C,echo,,,x,c,,\n"
    assert run(app, tmp_path, rows, {"x": 1}).success
    root = named(exporter, "run G")
    start, b, c = (named(exporter, f"node {n}") for n in ("Start", "B", "C"))
    assert parent_of(b) == parent_of(c) == parent_of(start) == root.context.span_id
    assert (start.attributes or {})["agentmap.route"] == ("B", "C")


def test_subgraph_run_is_nested_under_its_graph_node(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    rows = (
        'Main,Check,graph,Done,,text=name,verdict=result,,"{""workflow"": ""::Child""}"\n'
        "Main,Done,echo,,,verdict,out,,\n"
        "Child,Inner,echo,,,text,result,,\n"
    )
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + rows, encoding="utf-8")
    _, graph = app.load(csv, "Main")
    assert app.runner(graph).run({"name": "ada"}).success
    main, check = named(exporter, "run Main"), named(exporter, "node Check")
    child, inner = named(exporter, "run Child"), named(exporter, "node Inner")
    assert parent_of(check) == main.context.span_id
    assert parent_of(child) == check.context.span_id
    assert parent_of(inner) == child.context.span_id
    assert (child.attributes or {})["agentmap.parent_run_id"] == (main.attributes or {})[
        "agentmap.run_id"
    ]


def test_llm_call_is_a_genai_client_span_under_its_node(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    app.settings.llm.fake_default = "an answer"
    rows = 'G,Ask,llm,,,question,answer,Answer {question},"{""model"": ""gpt-4o-mini""}"\n'
    assert run(app, tmp_path, rows, {"question": SECRET}).success
    node, call = named(exporter, "node Ask"), named(exporter, "chat gpt-4o-mini")
    assert parent_of(call) == node.context.span_id
    assert call.kind is SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] == 2  # "an answer": the fake counts words
    assert attributes["agentmap.cost"] == 0.0
    assert node.start_time <= call.start_time <= call.end_time <= node.end_time


def test_failing_node_has_error_status_exception_events_and_retries(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    FlakyAgent.attempts.clear()
    rows = (
        'G,Good,Flaky,,,x,y,,"{""fails"": 1, ""retries"": 2, ""retry_delay"": 0}"\n'
        'G,Bad,Flaky,,,x,y,,"{""fails"": 99}"\n'
    )
    assert run(app, tmp_path, rows.split("\n")[0] + "\n", {"x": SECRET}).success
    good = named(exporter, "node Good")
    assert good.status.status_code is StatusCode.UNSET
    assert [event.name for event in good.events] == ["exception", "retry"]
    assert (good.events[1].attributes or {})["agentmap.attempt"] == 2
    assert (good.attributes or {})["agentmap.attempts"] == 2

    exporter.clear()
    assert not run(app, tmp_path, rows.split("\n")[1] + "\n", {"x": SECRET}).success
    bad, root = named(exporter, "node Bad"), named(exporter, "run G")
    assert bad.status.status_code is StatusCode.ERROR
    assert (bad.attributes or {})["agentmap.success"] is False
    (exception,) = bad.events
    assert (exception.attributes or {})["exception.type"] == "ConnectionError"
    assert (exception.attributes or {})["exception.message"] == "attempt 1 broke"
    assert root.status.status_code is StatusCode.ERROR


class AskAgent(BaseAgent):
    """Waits for a human: the run suspends here."""

    def process(self, inputs: dict[str, Any]) -> Any:
        return interrupt("go on?")["answer"]


def test_a_suspended_run_ends_its_waiting_node_without_an_error(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    app.container.agents.registry().register("Ask", AskAgent)
    result = run(app, tmp_path, "G,A,echo,Wait,,x,y,,\nG,Wait,Ask,,,y,z,,\n", {"x": 1})
    assert result.status == "suspended", result.error
    wait, root = named(exporter, "node Wait"), named(exporter, "run G")
    assert wait.status.status_code is StatusCode.UNSET
    assert (wait.attributes or {})["agentmap.suspended"] is True
    assert (root.attributes or {})["agentmap.status"] == "suspended"
    assert root.status.status_code is StatusCode.UNSET


def test_no_state_value_in_any_attribute(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    app.settings.llm.fake_default = "fine"
    rows = "G,A,echo,Ask,,x,y,,\nG,Ask,llm,,,y,answer,Say {y},\n"
    assert run(app, tmp_path, rows, {"x": SECRET}).success
    everything = [
        json.dumps([dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events]])
        for span in spans(exporter)
    ]
    assert len(everything) == 4
    assert not any(SECRET in text for text in everything)


def test_batch_rows_are_separate_traces_tagged_with_the_batch_id(
    app: Application, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    csv = tmp_path / "greet.csv"
    csv.write_text(HEADER + "Greet,Hello,echo,,,name,greeting,Hello {name},\n", encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"name": f"n{i}"}) + "\n" for i in range(3)))
    output = tmp_path / "out.jsonl"
    run_batch(app, csv, inputs, output)
    job = {json.loads(line)["job"] for line in output.read_text().splitlines()}
    roots = [span for span in spans(exporter) if span.name == "run Greet"]
    assert len(roots) == 3
    assert len({span.context.trace_id for span in roots}) == 3
    assert all(span.parent is None for span in roots)
    assert {(span.attributes or {})["agentmap.batch_id"] for span in roots} == job
    assert sorted((span.attributes or {})["agentmap.batch_row"] for span in roots) == [1, 2, 3]


# --------------------------------------------------------------------------- building it


def test_the_container_builds_the_otel_tracker_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    application = create_application(
        "test", tracking={"backend": "otel", "service_name": "billing", "capture_content": True}
    )
    tracker = application.tracker
    assert isinstance(tracker, OtelTracker)
    assert tracker.capture_content is True
    assert tracker.provider.resource.attributes["service.name"] == "billing"
    tracker.close()


def test_otel_service_name_wins_and_the_endpoint_chooses_otlp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never reached
    provider = provider_from_environment("agentmap")
    assert provider.resource.attributes["service.name"] == "from-env"
    processors = provider._active_span_processor._span_processors
    exporters = [type(processor.span_exporter).__name__ for processor in processors]
    provider.shutdown()  # nothing was recorded: nothing is sent
    assert exporters == ["OTLPSpanExporter"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER='zipkin'"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL='grpc'"),
    ],
)
def test_unsupported_exporter_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=named):
        provider_from_environment("agentmap")


def test_null_backend_drops_events_and_the_runner_builds_none(tmp_path: Path) -> None:
    application = create_application("test", tracking={"backend": "null"})
    assert isinstance(application.tracker, NullTracker)
    assert TrackingSettings.model_validate({"backend": None}).backend == "null"  # YAML null
    csv = tmp_path / "flow.csv"
    csv.write_text(HEADER + "G,A,echo,,,x,y,,\n", encoding="utf-8")
    _, graph = application.load(csv)
    runner = application.runner(graph)
    assert runner._per_node_events is False
    assert runner.run({"x": 1}).state["y"] == 1
