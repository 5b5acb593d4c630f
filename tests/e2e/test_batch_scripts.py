"""The batch-job scripts in scripts/, run the way a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import REPO

PYTHON = sys.executable


def run_script(name: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTMAP_") and not k.endswith("_API_KEY")
    }
    full_env.update(env)
    return subprocess.run(
        [PYTHON, str(REPO / "scripts" / name), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_classify_tickets_over_http_to_the_local_fake_server(tmp_path: Path) -> None:
    tickets = tmp_path / "tickets.csv"
    tickets.write_text(
        "id,customer,body\n"
        "A1,Ada,I was charged twice for my subscription\n"
        "A2,Alan,The app crashes at login\n"
        "A3,Grace,Do you have an office in Berlin?\n",
        encoding="utf-8",
    )
    done = run_script("classify-tickets", str(tickets), "--output", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "using the local fake OpenAI server" in done.stdout
    results = {r["id"]: r for r in lines(tmp_path / "out.jsonl")}
    assert results["A1"]["output"]["classification"] == {"team": "billing", "urgency": "low"}
    assert results["A2"]["output"]["classification"]["team"] == "technical"
    assert results["A3"]["output"]["classification"]["team"] == "general"
    assert all(r["llm_calls"] >= 3 and r["tokens"] > 0 for r in results.values())
    assert "3 answered, 0 failed" in done.stdout
    again = run_script("classify-tickets", str(tickets), "--output", "out.jsonl", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(lines(tmp_path / "out.jsonl")) == 3  # resumed: nothing ran twice


def test_classify_tickets_with_the_demo_preset(tmp_path: Path) -> None:
    done = run_script("classify-tickets", "--env", "demo", "--output", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = lines(tmp_path / "out.jsonl")
    assert len(results) == 60
    teams = {r["output"]["classification"]["team"] for r in results}
    assert teams == {"billing", "technical", "general"}
    assert "60 answered, 0 failed" in done.stdout


def test_enrich_jsonl_keeps_input_order_and_resumes(tmp_path: Path) -> None:
    source = REPO / "examples" / "data" / "products.jsonl"
    done = run_script("enrich-jsonl", str(source), "enriched.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = lines(tmp_path / "enriched.jsonl")
    originals = lines(source)
    assert [r["sku"] for r in records] == [o["sku"] for o in originals]
    for record, original in zip(records, originals, strict=True):
        # WordCount counts [\w']+ runs, so "pour-over" is two words.
        assert record["word_count"] == len(re.findall(r"[\w']+", original["description"]))
        assert record["card"].startswith(original["name"] + " — ")
    again = run_script("enrich-jsonl", str(source), "enriched.jsonl", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"0 ran now, {len(originals)} were already done" in again.stdout


def test_classify_tickets_names_its_own_options_in_a_refusal(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_text("notes of mine\n", encoding="utf-8")
    refused = run_script("classify-tickets", "--env", "demo", "--output", "out.jsonl", cwd=tmp_path)
    assert refused.returncode == 2
    assert "out.jsonl:1 is not a result line of agentmap batch" in refused.stderr
    assert refused.stderr.rstrip().endswith("or choose another --output")
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == "notes of mine\n"
