"""``agentmap validate``'s data-flow check: warnings by default, errors with --strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PARALLEL = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field\n"
    "P,SplitWork,echo,TaskA|TaskB|TaskC,Error,input_data,work_packages\n"
    "P,TaskA,echo,Join,Error,work_packages,result_a\n"
    "P,TaskB,echo,Join,Error,work_packages,result_b\n"
    "P,TaskC,echo,Join,Error,work_packages,result_c\n"
    "P,Join,echo,End,Error,result_a|result_b|result_c,combined_result\n"
    "P,End,echo,,,combined_result,final\n"
    "P,Error,echo,End,,error,error_message\n"
)
END = (
    "graph 'P', node 'End', column 'Input_Fields': input field 'combined_result' may be "
    "unset when this node runs: it is written by 'Join', but not on every path to this node. "
    "Declare it as a run input (a '# inputs: combined_result' row in the CSV) or "
    "have every path to this node write it"
)
ENTRY = (
    "graph 'P', node 'SplitWork', column 'Input_Fields': input field 'input_data' may be unset "
    "when this node runs: no node on a path to this one writes it"
)
FIXED = PARALLEL.replace("P,Error,echo,End,,error,error_message", "P,Error,echo,,,error,final")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_warnings_by_default(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, PARALLEL)
    out = cli("validate", str(path))
    assert out.returncode == 0, out.stderr
    assert f"warning: {path}:2, {ENTRY}" in out.stdout
    assert f"warning: {path}:7, {END}" in out.stdout
    assert "node 'Join'" not in out.stdout  # each result_x comes from one branch of the fan-out
    assert "node 'Error'" not in out.stdout  # reached by failures: error is set
    assert "P (7 nodes)" in out.stdout


def test_inputs_option_supplies_the_entry_fields(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, PARALLEL)
    out = cli("validate", str(path), "--inputs", "input_data,unused")
    assert out.returncode == 0, out.stderr
    assert "node 'SplitWork'" not in out.stdout
    assert f"warning: {path}:7, {END}" in out.stdout


def test_strict_turns_them_into_errors(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, PARALLEL)
    out = cli("validate", str(path), "--strict", "--inputs", "input_data")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == f"error: {path}:7, {END}\n"


def test_strict_lists_every_problem(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, PARALLEL)
    out = cli("validate", str(path), "--strict")
    assert out.returncode == 2
    hint = (
        ". Declare it as a run input (a '# inputs: input_data' row in the CSV) or have "
        "every path to this node write it"
    )
    assert out.stderr.splitlines() == [f"error: {path}:2, {ENTRY}{hint}", f"{path}:7, {END}"]
    assert "Traceback" not in out.stderr


def test_strict_passes_when_every_input_is_supplied(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "# inputs: input_data\n" + FIXED)
    out = cli("validate", str(path), "--strict")
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stdout
    assert "P (7 nodes)" in out.stdout


def test_graph_specific_inputs_row_and_repeated_option(cli: Any, tmp_path: Path) -> None:
    text = (
        "# inputs(Main): a\nGraphName,Node,Input_Fields,Output_Field\nMain,A,a|b|c,x\nOther,B,a,\n"
    )
    path = write(tmp_path, text)
    out = cli("validate", f"{path}::Main", "--strict", "--inputs", "b", "--inputs", "c")
    assert out.returncode == 0, out.stderr
    other = cli("validate", f"{path}::Other", "--strict", "--inputs", "b|c")
    assert other.returncode == 2
    assert other.stderr.startswith(
        f"error: {path}:4, graph 'Other', node 'B', column 'Input_Fields': input field 'a' may "
        "be unset when this node runs"
    )
    both = cli("validate", str(path), "--inputs", "b , c")
    assert both.returncode == 0, both.stderr
    assert "node 'A'" not in both.stdout
    assert f"warning: {path}:4, graph 'Other', node 'B'" in both.stdout
