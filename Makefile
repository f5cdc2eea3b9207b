# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= runs/demo
DATA ?=
CACD ?=
DEVICE ?=

.PHONY: setup demo test test-fast lint bench assignments clean

setup: $(STAMP)

LOCK := requirements/gradescope.txt

# Reinstall only when the package metadata or the lock changed; pip's log is shown when it fails.
# The runtime dependencies get the lock's versions (the Gradescope image's; PyPI's torch wheel
# stands for the lock's CPU wheel of the same version), so what is tested is what grades.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	sed -e 's/+cpu$$//' -e '/^--/d' $(LOCK) > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c $(VENV)/constraints.txt -e '.[dev,text]' \
		> $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	$(BIN)/python -c "import course_lib, torch, torchvision, nbgrader, pytorch_grad_cam, tensorly"
	touch $(STAMP)

# $(RUN) belongs to `make demo`: each run replaces the previous demo's outputs there.
demo: setup
	$(BIN)/python -m course_lib demo --out $(RUN) --overwrite $(if $(DATA),--data $(DATA)) \
		$(if $(CACD),--cacd $(CACD)) $(if $(DEVICE),--device $(DEVICE))

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m benchmarks

assignments: setup
	$(BIN)/python -m autograder generate

clean:
	rm -rf $(RUN) .pytest_cache
