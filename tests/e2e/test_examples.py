"""The example workflows of examples/, run with the ``agentmap`` command as the README shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import REPO

EXAMPLES = REPO / "examples"
DATA = EXAMPLES / "data"


def run_json(cli: Any, workflow: str, *args: str) -> tuple[int, dict[str, Any], str]:
    out = cli("run", str(EXAMPLES / workflow), "--json", *args)
    result = json.loads(out.stdout) if out.stdout else {}
    return out.returncode, result, out.stderr


def test_user_flow_validates_processes_and_formats(cli: Any) -> None:
    code, result, err = run_json(cli, "user_flow.csv", "--state-file", str(DATA / "user.json"))
    assert code == 0, err
    assert result["path"] == ["ValidateInput", "ProcessData", "FormatOutput", "End"]
    profile = json.loads(result["state"]["final_output"])
    assert profile == {
        "display_name": "Ada Lovelace",
        "age_group": "adult",
        "newsletter": True,
        "domain": "example.org",
    }
    assert result["state"]["result"]["error_message"] is None


def test_user_flow_routes_invalid_input_to_the_error_handler(cli: Any) -> None:
    bad = {"user_input": {"name": "x", "age": 200, "email": "nope"}}
    code, result, err = run_json(cli, "user_flow.csv", "--state", json.dumps(bad))
    assert code == 0, err
    assert result["path"] == ["ValidateInput", "ErrorHandler", "End"]
    message = result["state"]["result"]["error_message"]
    assert "validation failed" in message
    for field in ("name", "age", "email"):
        assert field in message


def test_robust_api_retries_through_the_handler_until_the_call_succeeds(cli: Any) -> None:
    code, result, err = run_json(cli, "robust_api.csv", "--state-file", str(DATA / "api.json"))
    assert code == 0, err
    assert result["path"] == [
        "ProcessAPI",
        "HandleAPIError",
        "RetryAPI",
        "ProcessAPI",
        "HandleAPIError",
        "RetryAPI",
        "ProcessAPI",
        "ValidateResponse",
        "End",
    ]
    state = result["state"]
    assert state["api_response"]["call"] == 3
    assert [e["message"] for e in state["errors"]] == [
        "HTTP 503 from https://api.example.org/search (call 1)",
        "HTTP 503 from https://api.example.org/search (call 2)",
    ]
    assert state["error_details"]["failures"] == 2


def test_robust_api_gives_up_and_fails_when_the_api_stays_down(cli: Any) -> None:
    request = {"api_request": {"url": "https://api.example.org", "fail_first": 10}}
    code, result, _ = run_json(cli, "robust_api.csv", "--state", json.dumps(request))
    assert code == 1
    assert result["status"] == "failed"
    assert result["path"][-2:] == ["HandleAPIError", "FinalError"]
    assert result["path"].count("ProcessAPI") == 3
    assert result["failed_node"] == "FinalError"
    assert "API unavailable: HTTP 503" in result["error"]


def test_parallel_flow_splits_runs_three_workers_and_joins_them(cli: Any) -> None:
    code, result, err = run_json(cli, "parallel.csv", "--state-file", str(DATA / "parallel.json"))
    assert code == 0, err
    path = result["path"]
    assert path[0] == "SplitWork"
    assert sorted(path[1:4]) == ["TaskA", "TaskB", "TaskC"]
    assert path[4:] == ["Join", "End"]
    combined = result["state"]["combined_result"]
    assert [combined[k]["texts"] for k in ("result_a", "result_b", "result_c")] == [3, 3, 3]
    assert [combined[k]["words"] for k in ("result_a", "result_b", "result_c")] == [13, 12, 7]
    report = result["state"]["report"]
    assert report.startswith("Word counts per package:\nresult_a: {")
    assert report.index("result_a:") < report.index("result_b:") < report.index("result_c:")


def test_nested_workflow_runs_a_subgraph_of_this_file_and_one_of_another(cli: Any) -> None:
    code, result, err = run_json(cli, "nested.csv::Main", "--state-file", str(DATA / "order.json"))
    assert code == 0, err
    assert result["path"] == ["Intake", "CheckOrder", "Analyse", "Done"]
    state = result["state"]
    assert state["check"] == "accepted"
    assert json.loads(state["analysis"]) == {
        "items": 2,
        "units": 3,
        "total": 39.0,
        "currency": "EUR",
    }
    assert state["summary"].startswith("Order accepted: {")


def test_nested_workflow_routes_a_failed_validation_subgraph(cli: Any) -> None:
    order = {"order": {"customer": "", "items": []}}
    code, result, err = run_json(cli, "nested.csv::Main", "--state", json.dumps(order))
    assert code == 0, err
    assert result["path"] == ["Intake", "CheckOrder", "Rejected"]
    assert result["state"]["summary"] == (
        "subgraph 'Validation' failed at node 'HasItems': validator node 'HasItems': "
        "validation failed: customer is required; items is required"
    )


def test_examples_validate_and_the_data_flow_check_flags_only_real_gaps(cli: Any) -> None:
    for csv in ("parallel.csv", "nested.csv"):
        out = cli("validate", "--strict", str(EXAMPLES / csv))
        assert out.returncode == 0, f"{csv}: {out.stderr}"
        assert "warning" not in out.stdout
    # End joins two alternative paths: each of its inputs is written on one of them.
    out = cli("validate", str(EXAMPLES / "user_flow.csv"))
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stdout.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1
    assert "node 'End'" in warnings[0]
    assert "'final_output', 'error_message' may be unset" in warnings[0]
    strict = cli("validate", "--strict", str(EXAMPLES / "user_flow.csv"))
    assert strict.returncode == 2
    assert "user_flow.csv:7" in strict.stderr


def test_validate_loads_subgraphs_and_refuses_recursion(cli: Any, tmp_path: Path) -> None:
    csv = tmp_path / "loop.csv"
    csv.write_text(
        "GraphName,Node,AgentType,Context\n"
        'A,CallB,graph,"{""workflow"": ""::B""}"\n'
        'B,CallA,graph,"{""workflow"": ""::A""}"\n'
    )
    out = cli("validate", str(csv))
    assert out.returncode == 2
    assert "subgraph recursion: A.CallB" in out.stderr
    assert "Traceback" not in out.stderr


def test_example_subgraph_file_carries_its_own_custom_agents(tmp_path: Path, cli: Any) -> None:
    # Run from an unrelated folder: the analysis graph finds flows/custom_agents itself.
    out = cli(
        "run",
        str(EXAMPLES / "flows" / "analysis.csv"),
        "--json",
        "--state-file",
        str(DATA / "order.json"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(json.loads(out.stdout)["state"]["stats"])["total"] == 39.0


def test_enrich_items_reads_the_csv_enriches_and_writes_json(cli: Any, tmp_path: Path) -> None:
    # Writes go to the run's folder; the example's data folder is a second, read root.
    roots = {"AGENTMAP_STORAGE__BASE_DIR": str(tmp_path)}
    roots["AGENTMAP_STORAGE__ROOTS"] = json.dumps([str(tmp_path), str(DATA)])
    state = {"source": str(DATA / "items.csv"), "target": "out/enriched_items.json"}
    out = cli(
        "run", str(EXAMPLES / "enrich_items.csv"), "--json", "--state", json.dumps(state), env=roots
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["path"] == ["ReadItems", "Enrich", "WriteJSON", "Done"]
    written = tmp_path / "out" / "enriched_items.json"
    assert result["state"]["summary"] == f"Wrote 5 items to {written.resolve()}"
    items = json.loads(written.read_text())
    assert [i["id"] for i in items] == ["A-100", "A-101", "A-102", "A-103", "A-104"]
    assert items[0]["total"] == 88.8
    assert items[2]["in_stock"] is False
    assert sorted(p.name for p in written.parent.iterdir()) == ["enriched_items.json"]


def test_enrich_items_reports_a_bad_row_and_a_path_outside_the_roots(
    cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "items.csv").write_text("id,name,price,quantity\nA,x,1.5,2\nB,y,cheap,1\n")
    state = {"source": "items.csv", "target": "out.json"}
    env = {"AGENTMAP_STORAGE__BASE_DIR": str(tmp_path)}
    out = cli(
        "run", str(EXAMPLES / "enrich_items.csv"), "--json", "--state", json.dumps(state), env=env
    )
    result = json.loads(out.stdout)
    assert result["path"] == ["ReadItems", "Enrich", "Failed"]
    assert "items line 3 (B): bad price or quantity" in result["state"]["summary"]
    assert not (tmp_path / "out.json").exists()

    outside = {"source": str(DATA / "items.csv"), "target": "out.json"}
    out = cli(
        "run", str(EXAMPLES / "enrich_items.csv"), "--json", "--state", json.dumps(outside), env=env
    )
    summary = json.loads(out.stdout)["state"]["summary"]
    assert summary.startswith("csv_reader node 'ReadItems': path ")
    assert "outside the storage roots" in summary
    assert "Traceback" not in out.stderr
