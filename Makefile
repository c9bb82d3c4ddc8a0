# c2p4d: every target is one CLI call. Override variables on the command line, e.g.
#   make ingest DATASET=hoi4d SRC=/data/HOI4D WORKERS=8
PYTHON  ?= python
DATA    ?= ./data
DATASET ?= synth-hoi
SRC     ?=
WORKERS ?=
STORE   ?= $(DATA)/$(DATASET).zarr

WORKERS_OPT = $(if $(WORKERS),--workers $(WORKERS))
SRC_OPT     = $(if $(SRC),--source $(SRC))

.PHONY: setup test lint demo ingest info preview

## setup: system libraries for open3d (when root), then the package with its dev tools
setup:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ldconfig -p | grep -q libusb-1.0; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends libusb-1.0-0 libgl1 libgomp1; \
	fi
	$(PYTHON) -m pip install -e ".[dev]"

## test: the whole test suite
test:
	$(PYTHON) -m pytest

## lint: format and lint check
lint:
	ruff format --check . && ruff check .
