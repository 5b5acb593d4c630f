"""``agentmap graph`` as a user runs it: plain output on stdout, errors with exit status 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PARALLEL = (
    "GraphName,Node,AgentType,Success_Next,Failure_Next,Input_Fields,Output_Field,Description\n"
    "P,SplitWork,echo,TaskA|TaskB,Error,input_data,work_packages,Split the work\n"
    "P,TaskA,echo,Join,Error,work_packages,result_a,\n"
    "P,TaskB,echo,Join,Error,work_packages,result_b,\n"
    "P,Join,echo,End,SplitWork,result_a|result_b,combined_result,Retry on failure\n"
    "P,End,echo,,,combined_result,final,\n"
    "P,Error,echo,End,,error,error_message,\n"
    "Q,Only,echo,,,,,\n"
)


def write(tmp_path: Path, text: str = PARALLEL, name: str = "flow.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_mermaid_is_the_default(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", f"{write(tmp_path)}::P")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    n0(["SplitWork<br/>echo<br/><i>Split the work</i>"])' in lines
    assert "    n0 ==>|parallel| n1" in lines
    assert "    n0 ==>|parallel| n2" in lines
    assert "    n0 -. failure .-> n5" in lines
    assert "    n3 -. failure .-> n0" in lines  # the retry loop
    assert "    n1 --> n3" in lines
    assert "    class n0 entry" in lines
    assert "\x1b[" not in out.stdout  # no colours: the output goes into .mmd files
    assert out.stderr == ""


def test_text_tree_with_graph_option(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", str(write(tmp_path)), "--graph", "P", "--format", "text")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "graph P (6 nodes)\n"
        "SplitWork [echo] — Split the work  (entry)\n"
        "├─ ✓ -> ‖ TaskA [echo]\n"
        "│  ├─ ✓ -> Join [echo] — Retry on failure\n"
        "│  │  ├─ ✓ -> End [echo]\n"
        "│  │  └─ ✗ -> SplitWork (see above)\n"
        "│  └─ ✗ -> Error [echo]\n"
        "│     ✓ -> End (see above)\n"
        "├─ ✓ -> ‖ TaskB [echo]\n"
        "│  ├─ ✓ -> Join (see above)\n"
        "│  └─ ✗ -> Error (see above)\n"
        "└─ ✗ -> Error (see above)\n"
    )


def test_output_can_be_redirected_to_a_file(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", f"{write(tmp_path)}::Q", "-f", "mermaid")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "flowchart TD\n"
        '    n0(["Only<br/>echo"])\n'
        "    classDef entry stroke-width:3px\n"
        "    class n0 entry\n"
    )


def test_load_warnings_go_to_stderr(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "Node,Edge\nA,\nLost,A\n")
    out = cli("graph", str(path), "-f", "text")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("unreachable (no route leads here):\n  Lost [default]\n")
    assert out.stderr.startswith(f"warning: {path}:3, graph 'flow', node 'Lost'")
    assert "unreachable" in out.stderr


def test_several_graphs_and_no_choice(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", str(write(tmp_path)))
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("error: ")
    assert "the file has 2 graphs ('P', 'Q')" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_graph_suggests_one(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", str(write(tmp_path)), "--graph", "p")
    assert out.returncode == 2
    assert "no graph named 'p'" in out.stderr
    assert "did you mean 'P'?" in out.stderr


def test_bad_format_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", f"{write(tmp_path)}::P", "--format", "dot")
    assert out.returncode == 2
    assert "'dot' is not one of 'mermaid', 'text'" in out.stderr
    assert "Traceback" not in out.stderr


def test_broken_workflow_is_reported_like_validate(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "Node,AgentType,Edge\nA,ecko,B\n")
    out = cli("graph", str(path))
    assert out.returncode == 2
    assert out.stdout == ""
    assert f"{path}:2" in out.stderr
    assert "did you mean 'echo'?" in out.stderr
    assert "'B' is not a node of this graph" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file(cli: Any, tmp_path: Path) -> None:
    out = cli("graph", str(tmp_path / "nope.csv"))
    assert out.returncode == 2
    assert "nope.csv: workflow file not found" in out.stderr


def test_custom_agent_types_are_known(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "custom_agents").mkdir()
    (tmp_path / "custom_agents" / "thing.py").write_text(
        "from agentmap.agents.base_agent import BaseAgent\n\n"
        "class ThingAgent(BaseAgent):\n"
        "    def process(self, inputs):\n"
        "        return 1\n"
    )
    path = write(tmp_path, "Node,AgentType\nA,custom:ThingAgent\n")
    out = cli("graph", str(path), "-f", "text")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "graph flow (1 node)\nA [ThingAgent]  (entry)\n"
