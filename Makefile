# The two commands: `make run` (install + start the embedded product) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# llama.cpp's own server, compiled once per machine from the sources vendored in the pinned
# llama-cpp-python sdist; kept outside the work tree (like pip's wheel cache) so fresh clones reuse it.
LLAMA_CPP_PYTHON := $(shell sed -n 's/^llama-cpp-python\[server\]==//p' requirements-embedded.txt)
LLAMA_SERVER_CACHE := $(HOME)/.cache/llama-server/$(LLAMA_CPP_PYTHON)/llama-server

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

# Server only, no web UI (the sdist does not ship its assets; the default would download them), no
# TLS; GGML_NATIVE=OFF so the binary runs on other CPUs too. Measured: 14.5 min on 2 cores shared
# with other jobs, once per machine and version; later installs copy the cached binary.
$(LLAMA_SERVER_CACHE):
	rm -rf $(@D)/build && mkdir -p $(@D)/build
	$(BIN)/pip download --quiet --no-binary :all: --no-deps llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(@D)/build
	tar -xzf $(@D)/build/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(@D)/build
	cmake -S $(@D)/build/llama_cpp_python-$(LLAMA_CPP_PYTHON)/vendor/llama.cpp -B $(@D)/build/cmake -DCMAKE_BUILD_TYPE=Release \
		-DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
		-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CCACHE=OFF
	cmake --build $(@D)/build/cmake --target llama-server -j $$(nproc)
	install -m 755 $(@D)/build/cmake/bin/llama-server $@
	rm -rf $(@D)/build

# llama-server, the embedded engine with parallel slots and continuous batching (model_service/embedded.py),
# is a target of its own, so a venv installed before the engine came gets it too.
install: $(INSTALLED) $(BIN)/llama-server

$(BIN)/llama-server: $(LLAMA_SERVER_CACHE)
	install -m 755 $< $@

run: install
	$(BIN)/python manage.py migrate --noinput
	# The web UI's files under hashed names with brotli/gzip copies, cached a year (frontend/storage.py).
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py serve_embedded

# Debian packages: chromium for the browser tests, bubblewrap for code_interpreter's sandbox, espeak-ng
# (and a TrueType font for the OCR tests' pictures) for media/'s spoken replies.
system-packages:
	@test -x /usr/bin/chromium -a -x /usr/bin/bwrap -a -x /usr/bin/espeak-ng || (apt-get update -qq && apt-get install -y -qq chromium bubblewrap espeak-ng fonts-dejavu-core)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install system-packages lint
	# The front end's pure modules (the answer-frame reducer, the socket client) under node's own runner.
	node --test tests/frontend/
	# The slowest tests are listed at the end: the suite's time on a 2-core machine is a budget.
	# Two processes, one per core, a test file each at a time (Redis databases: tests/support/deployment.py).
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

bench: install
	$(BIN)/python -m benchmarks.run_all
