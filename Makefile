# The two commands a newcomer runs: `make demo` and `make test`. Both build the environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.textseq-installed

.PHONY: setup demo test test-all system-deps corpora bench clean

setup: $(STAMP) system-deps corpora

# The CPU build of torch is pinned and installed before the package, so that the package's
# torch range is already satisfied and pip pulls no CUDA wheels. Ray (the optional `ray` extra,
# a ~65 MB wheel) is pinned too, so that `make test` exercises the Ray engine on a known version.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 'ray[data]==2.60.0'
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

# WordNet 3.0 from Debian, for the optional NLTK WordNet lemmatizer. Best effort: without root or
# apt the WordNet stage reports what is missing and its tests are skipped.
system-deps:
	@if [ -d /usr/share/wordnet ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null) \
	  || echo "note: could not install wordnet-base; WordNet lemmatization stays unavailable"; \
	else echo "note: wordnet-base not installed (needs root + apt); WordNet lemmatization stays unavailable"; fi

corpora: $(STAMP)
	$(PY) -m textseq corpora fetch shakespeare movie-reviews glove-6b-50d

# Trains the default character LSTM on Shakespeare for ~3 minutes (a fresh run each time), then prints
# a sample and the validation bits per character.
DEMO_DIR ?= runs/demo-char-lstm
demo: setup
	rm -rf $(DEMO_DIR)
	$(PY) -m textseq train-lm -c char_lstm -o $(DEMO_DIR)

test: setup
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

test-all: setup
	$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) benchmarks/preprocess.py

clean:
	rm -rf $(VENV) runs .pytest_cache
