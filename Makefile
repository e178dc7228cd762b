# `make demo` and `make test` work on a fresh machine with nothing else done first.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
# test-only: laplace-torch and its small deps, torch-uncertainty's wrappers (asdl: tests/asdl_stub.py)
ADAPTER_PKGS := laplace-torch==0.3 backpack-for-pytorch==1.7.1 curvlinops-for-pytorch==3.0.1 \
	opt_einsum==3.4.0 einops==0.8.2 torchmetrics==1.9.0 unfoldNd==0.2.3 einconv==0.1.0 \
	linear_operator==0.6.1 lightning-utilities==0.15.3 torch-uncertainty==0.13.0

.PHONY: demo test install data clean

$(VPY):
	$(PY) -m venv $(VENV)

# torch is pinned to the CPU wheel: any other torch spec pulls gigabytes of CUDA.
$(STAMP): $(VPY) pyproject.toml Makefile
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q torch==2.13.0
	$(VPY) -m pip install -q -e '.[test,ray]'
	@# adapter tests run against the real laplace-torch and torch-uncertainty; --no-deps because
	@# their metadata asks for torchvision and CUDA torch, which they do not need for what we use
	$(VPY) -m pip install -q --no-deps $(ADAPTER_PKGS)
	touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST comes from Debian's package; without root/apt we fall back to the bundled digits.
data:
	@if [ -f $(FMNIST) ]; then echo "Fashion-MNIST found under /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
	  && echo "installed dataset-fashion-mnist" \
	  || echo "could not install dataset-fashion-mnist; the demo falls back to scikit-learn's digits"; \
	else echo "Fashion-MNIST missing: run 'sudo apt-get install dataset-fashion-mnist' (or set UNSURE_DATA); falling back to digits"; fi

demo: install data
	$(VENV)/bin/unsure demo --force

test: install data
	@# the report's browser tests need Chromium: Debian's package when we can (root + apt-get), else they skip
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the report's browser tests (about a minute)"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) \
	  || echo "could not install chromium; the report's browser tests will be skipped"; \
	else echo "chromium missing (not root or no apt-get): the report's browser tests will be skipped"; fi
	# one thread per worker: two workers on two cores, no oversubscription
	OMP_NUM_THREADS=1 $(VPY) -m pytest -q -n 2 --dist loadfile tests

clean:
	rm -rf $(VENV) demo-report
