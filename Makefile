# The README's two commands (`make demo`, `make test`) work on a fresh machine:
# the first run creates .venv (uv if present, otherwise venv + pip) from the lock.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-serve test test-fast serve bench lint typecheck client clean

$(STAMP): pyproject.toml requirements.lock
	@if command -v uv >/dev/null 2>&1; then \
		uv venv --quiet --python $(PY) $(VENV) && \
		uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[dev]"; \
	else \
		$(PY) -m venv $(VENV) && \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"; \
	fi
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/yunshang demo

# the same day, then the server stays up for the web console (address and keys printed)
demo-serve: $(STAMP)
	$(BIN)/yunshang demo --serve

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

serve: $(STAMP)
	$(BIN)/yunshang serve

bench: $(STAMP)
	$(BIN)/python bench/flash_sale.py
	$(BIN)/python bench/devices.py
	$(BIN)/python bench/fast_paths.py
	$(BIN)/python bench/analytics.py

# The typed client's models, regenerated from the app's OpenAPI document.
client: $(STAMP)
	$(BIN)/python scripts/gen_client.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
