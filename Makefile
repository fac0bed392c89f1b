# Two entry points do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the package, runs the paper's study on the bundled StyleGAN-shaped MNIST model
#   make test   the same plus test dependencies, then the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SOURCES := $(shell find csrc hubness_fast -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.py') setup.py CMakeLists.txt pyproject.toml

.PHONY: demo test bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps: $(PY)
	$(PIP) install --quiet numpy tqdm setuptools wheel pybind11 cmake ninja
	touch $@

# torch is pinned here, for this environment (a CPU build on local disk), not in the package metadata.
$(VENV)/.demo-deps: $(VENV)/.deps
	$(PIP) install --quiet torch==2.13.0 scikit-learn matplotlib mlxtend
	touch $@

$(VENV)/.test-deps: $(VENV)/.demo-deps
	$(PIP) install --quiet pytest hypothesis scipy prdc "dask[array]" distributed zarr pytorch-pretrained-biggan mypy==2.4.1 umap-learn scanpy
	touch $@

$(VENV)/.bench-deps: $(VENV)/.test-deps
	$(PIP) install --quiet pytest-benchmark faiss-cpu
	$(PIP) install --quiet --no-deps torch-fidelity  # its array PRC only; its torchvision extractors do not import here
	touch $@

$(VENV)/.installed: $(VENV)/.deps $(SOURCES)
	$(PIP) install --quiet --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed $(VENV)/.demo-deps
	$(PY) -m hubness_fast.cli demo

test: $(VENV)/.installed $(VENV)/.test-deps
	$(PY) -m mypy
	$(PY) -m pytest tests

bench: $(VENV)/.installed $(VENV)/.bench-deps
	$(PY) -m benchmarks

clean:
	rm -rf build $(VENV) hubness_fast/*.so *.egg-info
