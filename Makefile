# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench browser migrate constraints clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Msaada needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt constraints.txt
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

## run: set up and run everything (web, worker, scheduler; embedded Redis and SQLite by default)
run: $(VENV)/.installed
	$(BIN)/python run.py

## test: set up and run the whole suite (SQLite, plus PostgreSQL when TEST_DATABASE_URL is set),
## on as many processes as the machine has cores (pytest-xdist; PYTEST_ARGS="-n 0" for one)
test: $(VENV)/.installed-dev browser
	$(BIN)/python -m pytest -n auto --maxprocesses=8 --dist worksteal $(PYTEST_ARGS)

## bench: the benchmarks under bench/ (not part of the tests)
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ussd.py
	$(BIN)/python bench/ussd_worst.py
	$(BIN)/python bench/escalation.py
	$(BIN)/python bench/sealing.py
	$(BIN)/python bench/burst.py
	$(BIN)/python bench/scale.py

# The browser tests drive Debian's chromium through Playwright (no browser download from the web).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -x $(CHROMIUM) ] || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

migrate: $(VENV)/.installed
	$(BIN)/flask --app app db upgrade

## constraints: re-pin the transitive dependencies after changing requirements*.txt
constraints: $(VENV)/.installed-dev
	$(BIN)/pip freeze --exclude-editable | grep -viE '^($(shell sed -nE 's/^([A-Za-z0-9_.-]+)(\[.*\])?==.*/\1/p' requirements.txt requirements-dev.txt | paste -sd'|'))==' > constraints.tmp
	(echo "# Transitive pins (pip freeze of requirements-dev.txt); regenerate with: make constraints"; cat constraints.tmp) > constraints.txt && rm constraints.tmp

clean:
	rm -rf $(VENV) .pytest_cache
