# Netpol Auditor. `make run` installs and starts everything; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lock bench lint

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runall

test: install
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Re-pin the tested set after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable --exclude netpol-auditor > constraints.txt

lint: install
	$(BIN)/ruff check .
