# Everything a fresh machine with python3 and make needs: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install browser demo examples llm-demo batch-demo test lint typecheck imports unit bench bench-env lock clean

# editable_mode=compat: a plain path entry instead of setuptools' import-hook
# finder, which adds ~15 ms to every Python start (setuptools is pinned).
# compileall: an editable install has no bytecode until an import writes it,
# and never gets any where PYTHONDONTWRITEBYTECODE is set; pip compiles a wheel.
$(STAMP): pyproject.toml constraints.txt
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--config-settings editable_mode=compat -e '.[dev,llm,redis,dask,openai,postgres,server,otel]'
	$(BIN)/python -m compileall -q agentmap containers
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/agentmap run examples/quickstart.csv \
		--state '{"text": "the quick brown fox jumps over the lazy dog because the dog was lazy"}'

# The workflows of examples/ (docs/examples.md): error-first flow, retry loop,
# parallel fan-out and join, subgraphs in the same and in another CSV.
examples: $(STAMP)
	$(BIN)/agentmap run examples/user_flow.csv --state-file examples/data/user.json
	$(BIN)/agentmap run examples/robust_api.csv --state-file examples/data/api.json
	$(BIN)/agentmap run examples/parallel.csv --state-file examples/data/parallel.json
	$(BIN)/agentmap run examples/nested.csv::Main --state-file examples/data/order.json
	$(BIN)/agentmap graph examples/parallel.csv
	$(BIN)/agentmap run examples/approval.csv --state-file examples/data/post.json
	$(BIN)/agentmap run examples/enrich_items.csv

# An LLM workflow (examples/support_llm.csv) with the real litellm backend,
# against a local OpenAI-compatible fake server: no API key, no network.
llm-demo: $(STAMP)
	$(BIN)/python scripts/llm-demo

# A batch job (docs/batch.md): 60 support tickets through the LLM workflow with
# the demo preset's fake LLM (no API key), one JSON line per ticket; rerunning
# resumes, so the second command runs nothing.
batch-demo: $(STAMP)
	$(BIN)/agentmap batch examples/support_llm.csv --inputs examples/data/tickets.csv \
		--map ticket=body --id-field id --output .agentmap/tickets.jsonl --env demo
	$(BIN)/agentmap batch examples/support_llm.csv --inputs examples/data/tickets.csv \
		--map ticket=body --id-field id --output .agentmap/tickets.jsonl --env demo

# Debian's chromium + chromedriver for tests/e2e/test_viewer.py. Where they cannot be
# installed (no apt-get, no network, no sudo) make goes on: the test then skips with the
# reason, which is a failure under AGENTMAP_REQUIRE_SERVICES=1 (CI).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "browser: no apt-get here; tests/e2e/test_viewer.py will skip"; \
		else \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			{ $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
			  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				chromium chromium-driver; } \
			|| echo "browser: could not install chromium; tests/e2e/test_viewer.py will skip"; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) browser
	$(BIN)/pytest

test: lint typecheck imports unit

bench: $(STAMP) bench-env
	$(BIN)/python scripts/bench

# Re-pin every dependency after changing pyproject.toml (commit constraints.txt).
lock:
	rm -rf /tmp/agentmap-lock && $(PYTHON) -m venv /tmp/agentmap-lock
	/tmp/agentmap-lock/bin/pip install --quiet -e '.[dev,llm,redis,dask,openai,postgres,server,otel]'
	/tmp/agentmap-lock/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .agentmap

# Separate environments for the baselines in scripts/bench: bare LangGraph, and
# the existing LangGraph-based AgentMap package (0.9.213).
bench-env:
	test -x .bench-venv/bin/python || $(PYTHON) -m venv .bench-venv
	.bench-venv/bin/python -m pip install --quiet --disable-pip-version-check -c scripts/bench-constraints.txt \
		langgraph langgraph-checkpoint-sqlite langgraph-checkpoint-postgres 'psycopg[binary]' psycopg-pool
	test -x .bench-agentmap/bin/python || $(PYTHON) -m venv .bench-agentmap
	.bench-agentmap/bin/python -m pip install --quiet --disable-pip-version-check -c scripts/bench-agentmap-constraints.txt agentmap==0.9.213
