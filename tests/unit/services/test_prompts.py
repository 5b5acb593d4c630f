"""Prompt references: ``prompt:name``, ``file:path``, ``yaml:path#key``, resolved at load time."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from agentmap.errors import AgentMapError, WorkflowError
from agentmap.services import prompts as prompts_module
from agentmap.services.prompt_graphs import resolve_graph_prompts
from agentmap.services.prompts import (
    PromptReferenceError,
    PromptService,
    is_reference,
)
from agentmap.services.protocols import PromptServiceProtocol
from agentmap.workflow.spec import GraphSpec, NodeSpec

REGISTRY = """\
greeting: "Hello, {name}!"
farewell:
  template: "Goodbye, {name}."
  description: said at the end
support:
  triage:
    template: "  Triage this ticket: {ticket}  "
  escalate: "Escalate {ticket}"
  tiers:
    gold: "Gold service"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (relative paths are resolved from it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def service(workdir: Path) -> PromptService:
    write(workdir / "prompts" / "registry.yaml", REGISTRY)
    return PromptService([Path("prompts")])


def error_of(service: PromptService, reference: str) -> PromptReferenceError:
    with pytest.raises(PromptReferenceError) as info:
        service.resolve_prompt(reference)
    return info.value


# --------------------------------------------------------------------------- is_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prompt:greeting", True),
        ("  file:notes.txt  ", True),
        ("yaml:p.yaml#a", True),
        ("Prompt:greeting", False),  # exact prefixes only
        ("FILE:notes.txt", False),
        ("Summarise this: prompt:greeting", False),
        ("prompt :greeting", False),
        ("files:notes.txt", False),
        ("Hello {name}", False),
        ("", False),
    ],
)
def test_is_reference(text: str, expected: bool) -> None:
    assert is_reference(text) is expected
    assert PromptService.is_reference(text) is expected


def test_literal_text_is_returned_unchanged(service: PromptService) -> None:
    for text in ("Hello {name}", "Prompt:greeting", " spaced ", ""):
        assert service.resolve_prompt(text) == text


def test_service_satisfies_the_protocol(service: PromptService) -> None:
    assert isinstance(service, PromptServiceProtocol)
    assert issubclass(PromptReferenceError, AgentMapError)
    assert PromptReferenceError("prompt:x", "nope").exit_code == 2


# --------------------------------------------------------------------------- prompt:name


def test_named_prompt_string_and_template_mapping(service: PromptService) -> None:
    assert service.resolve_prompt("prompt:greeting") == "Hello, {name}!"
    assert service.resolve_prompt("prompt:farewell") == "Goodbye, {name}."
    assert service.resolve_prompt("  prompt: greeting ") == "Hello, {name}!"


def test_dotted_names_address_nested_mappings(service: PromptService) -> None:
    assert service.resolve_prompt("prompt:support.triage") == "Triage this ticket: {ticket}"
    assert service.resolve_prompt("prompt:support.escalate") == "Escalate {ticket}"
    assert service.resolve_prompt("prompt:support.tiers.gold") == "Gold service"
    assert "support.triage" in service.prompt_names()


def test_unknown_name_suggests_the_closest(service: PromptService) -> None:
    error = error_of(service, "prompt:greting")
    assert error.suggestion == "prompt:greeting"
    assert "no prompt named 'greting'" in str(error)
    assert "registry.yaml" in str(error)
    assert "did you mean 'prompt:greeting'?" in str(error)
    assert error_of(service, "prompt:support.triag").suggestion == "prompt:support.triage"
    assert error_of(service, "prompt:zzzzzz").suggestion is None


def test_a_group_is_not_a_prompt(service: PromptService) -> None:
    error = error_of(service, "prompt:support")
    assert "group of prompts" in error.message
    assert "support.triage" in error.message


def test_empty_name_and_missing_registry(workdir: Path) -> None:
    service = PromptService([Path("prompts")])
    assert "name the prompt" in error_of(service, "prompt:").message
    error = error_of(service, "prompt:greeting")
    assert "no prompt registry found" in error.message
    assert "prompts" in error.message


def test_every_yaml_file_in_the_folder_is_read(workdir: Path) -> None:
    write(workdir / "prompts" / "a.yaml", "one: first\n")
    write(workdir / "prompts" / "b.yml", "two:\n  template: second\n")
    write(workdir / "prompts" / "notes.txt", "three: ignored\n")
    write(workdir / "prompts" / "empty.yaml", "")
    service = PromptService([Path("prompts")])
    assert service.resolve_prompt("prompt:one") == "first"
    assert service.resolve_prompt("prompt:two") == "second"
    assert error_of(service, "prompt:three")


def test_same_name_with_different_text_in_two_files_is_an_error(workdir: Path) -> None:
    write(workdir / "prompts" / "a.yaml", "greeting: Hello\nshared: same\nonly_a: A\n")
    write(workdir / "prompts" / "b.yaml", "greeting: Hi\nshared: same\n")
    service = PromptService([Path("prompts")])
    error = error_of(service, "prompt:greeting")
    assert "a.yaml" in error.message
    assert "b.yaml" in error.message
    assert "different text" in error.message
    # the same text twice is fine, and other names still resolve
    assert service.resolve_prompt("prompt:shared") == "same"
    assert service.resolve_prompt("prompt:only_a") == "A"


def test_conflict_across_folders(workdir: Path) -> None:
    write(workdir / "prompts" / "p.yaml", "greeting: Hello\n")
    write(workdir / "flows" / "prompts" / "p.yaml", "greeting: Hi\n")
    service = PromptService([Path("prompts")]).for_workflow(Path("flows/f.csv"))
    error = error_of(service, "prompt:greeting")
    assert str(Path("flows/prompts/p.yaml")) in error.message
    assert str(Path("prompts/p.yaml")) in error.message


def test_bad_registry_entries(workdir: Path) -> None:
    write(workdir / "prompts" / "p.yaml", "count: 3\nlisted: [a, b]\nbad:\n  template: 4\n")
    service = PromptService([Path("prompts")])
    assert "a number (3)" in error_of(service, "prompt:count").message
    assert "a list" in error_of(service, "prompt:listed").message
    assert "template that is a number (4)" in error_of(service, "prompt:bad").message


def test_broken_registry_file_is_named(workdir: Path) -> None:
    write(workdir / "prompts" / "broken.yaml", "greeting: [unclosed\n")
    error = error_of(PromptService([Path("prompts")]), "prompt:greeting")
    assert "broken.yaml" in error.message
    assert "invalid YAML at line" in error.message
    write(workdir / "prompts" / "broken.yaml", "- a list\n")
    error = error_of(PromptService([Path("prompts")]), "prompt:greeting")
    assert "top level is a list" in error.message


# --------------------------------------------------------------------------- file:path


def test_file_reference_reads_utf8_and_strips(workdir: Path) -> None:
    write(workdir / "note.txt", "\n  Grüße, {name}!  \n")
    service = PromptService([Path("prompts")])
    assert service.resolve_prompt("file:note.txt") == "Grüße, {name}!"
    assert service.resolve_prompt(f"file:{workdir / 'note.txt'}") == "Grüße, {name}!"


def test_file_paths_csv_dir_then_prompts_folders_then_working_dir(workdir: Path) -> None:
    write(workdir / "prompts" / "a.txt", "configured folder")
    write(workdir / "a.txt", "working dir")
    write(workdir / "flows" / "prompts" / "a.txt", "folder beside the CSV")
    root = PromptService([Path("prompts")])
    flows = root.for_workflow(Path("flows/f.csv"))
    assert flows.resolve_prompt("file:a.txt") == "folder beside the CSV"
    write(workdir / "flows" / "a.txt", "beside the CSV")
    assert flows.resolve_prompt("file:a.txt") == "beside the CSV"
    assert root.resolve_prompt("file:a.txt") == "configured folder"
    (workdir / "prompts" / "a.txt").unlink()
    assert root.resolve_prompt("file:a.txt") == "working dir"
    write(workdir / "only_here.txt", "cwd fallback")
    assert flows.resolve_prompt("file:only_here.txt") == "cwd fallback"


def test_missing_file_lists_where_it_looked_and_suggests(workdir: Path) -> None:
    write(workdir / "flows" / "greeting.txt", "hi")
    service = PromptService([Path("prompts")]).for_workflow(Path("flows/f.csv"))
    error = error_of(service, "file:greting.txt")
    assert "'greting.txt' not found" in error.message
    assert "flows" in error.message
    assert "the working directory" in error.message
    assert error.suggestion == "file:greeting.txt"
    assert "name the file" in error_of(service, "file:").message


def test_file_that_is_not_utf8(workdir: Path) -> None:
    (workdir / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    error = error_of(PromptService([]), "file:latin1.txt")
    assert "not UTF-8" in error.message


# --------------------------------------------------------------------------- yaml:path#key


def test_yaml_reference_dotted_keys_and_list_indices(workdir: Path) -> None:
    write(
        workdir / "p.yaml",
        "a:\n  b: deep text\n  items:\n    - first\n    - {text: second}\n1: numbered\n",
    )
    service = PromptService([])
    assert service.resolve_prompt("yaml:p.yaml#a.b") == "deep text"
    assert service.resolve_prompt("yaml:p.yaml#a.items.0") == "first"
    assert service.resolve_prompt("yaml:p.yaml#a.items.1.text") == "second"
    assert service.resolve_prompt("yaml:p.yaml#1") == "numbered"
    assert service.resolve_prompt("yaml: p.yaml # a.b ") == "deep text"


def test_yaml_reference_finds_files_like_file_references(workdir: Path) -> None:
    write(workdir / "flows" / "prompts" / "registry.yaml", REGISTRY)
    service = PromptService([Path("prompts")]).for_workflow(Path("flows/f.csv"))
    assert service.resolve_prompt("yaml:registry.yaml#greeting") == "Hello, {name}!"
    assert service.resolve_prompt("yaml:prompts/registry.yaml#farewell.template") == (
        "Goodbye, {name}."
    )


def test_yaml_reference_errors_say_which_part_is_wrong(workdir: Path) -> None:
    write(workdir / "p.yaml", "a:\n  bravo: text\n  items: [x, y]\n  n: 3\n  t: {template: T}\n")
    service = PromptService([])

    missing_file = error_of(service, "yaml:q.yaml#a")
    assert "'q.yaml' not found" in missing_file.message
    assert missing_file.suggestion == "yaml:p.yaml#a"

    missing_key = error_of(service, "yaml:p.yaml#a.brav")
    assert "no key 'brav' at 'a'" in missing_key.message
    assert "p.yaml" in missing_key.message
    assert missing_key.suggestion == "yaml:p.yaml#a.bravo"

    assert "no key 'z' at the top level" in error_of(service, "yaml:p.yaml#z").message
    assert "out of range" in error_of(service, "yaml:p.yaml#a.items.2").message
    assert "index it with an integer" in error_of(service, "yaml:p.yaml#a.items.x").message
    assert "has no key 'q'" in error_of(service, "yaml:p.yaml#a.bravo.q").message

    not_string = error_of(service, "yaml:p.yaml#a.n")
    assert "'a.n'" in not_string.message
    assert "a number (3), not a string" in not_string.message
    assert "a mapping, not a string" in error_of(service, "yaml:p.yaml#a").message
    assert error_of(service, "yaml:p.yaml#a.t").suggestion == "yaml:p.yaml#a.t.template"

    assert "yaml:path#key" in error_of(service, "yaml:p.yaml").message
    assert "single dots" in error_of(service, "yaml:p.yaml#a..b").message


def test_invalid_yaml_file_is_named(workdir: Path) -> None:
    write(workdir / "bad.yaml", "a: [\n")
    error = error_of(PromptService([]), "yaml:bad.yaml#a")
    assert "bad.yaml: invalid YAML" in error.message


# --------------------------------------------------------------------------- caching


def test_parsed_files_are_cached_and_reread_when_changed(
    service: PromptService, workdir: Path, mocker: MockerFixture
) -> None:
    parsed = mocker.spy(prompts_module, "_parse_yaml")  # still parses: a spy, not a stub
    for _ in range(3):
        service.resolve_prompt("prompt:greeting")
        service.resolve_prompt("yaml:prompts/registry.yaml#greeting")
    assert parsed.call_count == 1  # one file, parsed once for both forms

    # derived services share the parsed files
    service.for_workflow(Path("flows/f.csv")).resolve_prompt("prompt:greeting")
    assert parsed.call_count == 1
    assert service.for_workflow(Path("flows/f.csv")) is service.for_workflow(Path("flows/g.csv"))
    assert service.for_workflow(None) is service

    registry = workdir / "prompts" / "registry.yaml"
    registry.write_text('greeting: "Changed, {name}"\n', encoding="utf-8")
    stat = registry.stat()
    os.utime(registry, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert service.resolve_prompt("prompt:greeting") == "Changed, {name}"
    assert parsed.call_count == 2
    assert Path(parsed.call_args.args[0]).resolve() == registry.resolve()


# --------------------------------------------------------------------------- graphs


def node(
    name: str, prompt: str, *, file: Path | None = Path("flows/f.csv"), line: int = 2
) -> NodeSpec:
    return NodeSpec(name=name, graph="G", prompt=prompt, file=file, line=line)


def test_resolve_graph_prompts_replaces_references_in_graph_and_subgraphs(
    service: PromptService,
) -> None:
    write(Path("flows/prompts/local.yaml"), "local: Local {x}\n")
    child = GraphSpec(
        "Child", {"C": node("C", "prompt:support.escalate", file=Path("flows/sub.csv"))}
    )
    top = GraphSpec(
        "G",
        {
            "A": node("A", "prompt:greeting"),
            "B": node("B", "Plain {text}"),
            "L": node("L", "prompt:local"),
            "S": NodeSpec(name="S", graph="G", agent_type="graph", file=Path("flows/f.csv")),
        },
        file=Path("flows/f.csv"),
        subgraphs={"S": child},
    )
    resolved = resolve_graph_prompts(top, service.for_workflow)
    assert resolved.nodes["A"].prompt == "Hello, {name}!"
    assert resolved.nodes["B"] is top.nodes["B"]
    assert resolved.nodes["L"].prompt == "Local {x}"
    assert resolved.subgraphs["S"].nodes["C"].prompt == "Escalate {ticket}"
    assert top.nodes["A"].prompt == "prompt:greeting"  # the original is untouched
    pickle.loads(pickle.dumps(resolved))  # still travels to batch workers


def test_graph_without_references_is_returned_as_is(service: PromptService) -> None:
    top = GraphSpec("G", {"A": node("A", "Hello")})
    assert resolve_graph_prompts(top, service.for_workflow) is top


def test_every_bad_reference_of_the_graph_is_reported_at_once(service: PromptService) -> None:
    child = GraphSpec("Child", {"C": node("C", "file:missing.txt", line=7)})
    top = GraphSpec(
        "G",
        {
            "A": node("A", "prompt:greting", line=2),
            "B": node("B", "prompt:greeting", line=3),
            "D": node("D", "yaml:prompts/registry.yaml#nope", line=4),
        },
        subgraphs={"S": child, "T": child},
    )
    with pytest.raises(WorkflowError) as info:
        resolve_graph_prompts(top, service.for_workflow)
    diagnostics = info.value.diagnostics
    assert [(d.node, d.line, d.column) for d in diagnostics] == [
        ("A", 2, "Prompt"),
        ("D", 4, "Prompt"),
        ("C", 7, "Prompt"),  # once, though two graph nodes run that subgraph
    ]
    assert diagnostics[0].suggestion == "prompt:greeting"
    assert diagnostics[0].file == Path("flows/f.csv")
    text = str(info.value)
    assert "flows/f.csv:2, graph 'G', node 'A', column 'Prompt'" in text
    assert "did you mean 'prompt:greeting'?" in text


def test_any_prompt_service_can_resolve_a_graph() -> None:
    class Upper:
        def resolve_prompt(self, reference: str) -> str:
            return reference.upper()

    top = GraphSpec("G", {"A": node("A", "prompt:x")})
    seen: list[Path | None] = []

    def service_for(file: Path | None) -> PromptServiceProtocol:
        seen.append(file)
        return Upper()

    assert resolve_graph_prompts(top, service_for).nodes["A"].prompt == "PROMPT:X"
    assert seen == [Path("flows/f.csv")]
