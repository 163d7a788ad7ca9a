# Netpol Auditor. `make run` installs and starts everything; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install lock lint vendor

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runall

test: install node_modules/.installed
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# The tests' OpenID Connect provider, node-oidc-provider (devDependencies in package.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Re-pin the tested set after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable --exclude netpol-auditor > constraints.txt

lint: install
	$(BIN)/ruff check .

# Refresh static/vendor from the npm registry (versions pinned in package.json).
vendor:
	npm ci --no-audit --no-fund
	cp node_modules/cytoscape/dist/cytoscape.min.js static/vendor/cytoscape/cytoscape-$$(node -p "require('./node_modules/cytoscape/package.json').version").min.js
