# c2p4d: the front door. Every target is one CLI call; override variables on the command line:
#   make ingest DATASET=hoi4d SRC=/data/HOI4D WORKERS=8
PYTHON   ?= python
DATA     ?= ./data
DATASET  ?= synth-hoi
SRC      ?=
WORKERS  ?=
SEQUENCE ?=
VIEWS    ?= 8
BENCH    ?=
STORE    ?= $(DATA)/$(DATASET).zarr
RUNS     ?= ./runs
PRESET   ?= small
BACKBONE ?=
TASK     ?= hoi4d-actseg
EPOCHS   ?=
RUN      ?= $(RUNS)/pretrain-$(DATASET)-$(PRESET)
INIT     ?=
LABELS   ?=
PNG      ?=
NODES    ?= 1
GPUS     ?= 1
OPTS     ?=

# What open3d needs from the system (installed by `make setup` when run as root).
SYSTEM_LIBS = libusb-1.0-0 libgl1 libgomp1

WORKERS_OPT  = $(if $(WORKERS),--workers $(WORKERS))
SRC_OPT      = $(if $(SRC),--source $(SRC))
SEQUENCE_OPT = $(if $(SEQUENCE),--sequence $(SEQUENCE))
PRETRAIN_OPT = --store $(STORE) --task $(TASK) --preset $(PRESET) \
	$(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(OPTS)
# Fine-tuning finds TASK's store in DATA unless STORE is given; its run is RUN when given.
FINETUNE_RUN = $(if $(filter-out file,$(origin RUN)),$(RUN),$(RUNS)/finetune-$(TASK)-$(PRESET)$(if \
	$(INIT),-init)$(if $(LABELS),-labels$(LABELS)))
FINETUNE_OPT = --task $(TASK) --preset $(PRESET) --data $(DATA) \
	$(if $(filter-out file,$(origin STORE)),--store $(STORE)) $(if $(INIT),--init $(INIT)) \
	$(if $(LABELS),--labels $(LABELS)) $(if $(BACKBONE),--backbone $(BACKBONE)) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) $(OPTS)

.PHONY: help setup test lint demo ingest partial-views info preview preview-views bench \
	pretrain demo-pretrain cluster-pretrain ablation finetune evaluate demo-finetune demo-evaluate

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup:  ## install system libraries for open3d (when root), then c2p4d with its dev tools
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& ! (ldconfig -p | grep -q libusb-1.0 && ldconfig -p | grep -q libGL.so.1 \
		&& ldconfig -p | grep -q libgomp.so.1); then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(SYSTEM_LIBS); \
	fi
	$(PYTHON) -m pip install -e ".[dev]"

test:  ## run the test suite
	$(PYTHON) -m pytest

lint:  ## check formatting and lint
	ruff format --check . && ruff check .

demo: ingest partial-views info preview preview-views demo-pretrain demo-finetune demo-evaluate  ## the main job end to end, built-in data

ingest:  ## read DATASET (from SRC for real data) into DATA/DATASET.zarr
	c2p-data ingest --dataset $(DATASET) --out $(DATA) $(SRC_OPT) $(WORKERS_OPT)

partial-views:  ## render VIEWS partial views of every sequence into DATA/DATASET.zarr
	c2p-data partial-views $(STORE) --views $(VIEWS) $(WORKERS_OPT)

info:  ## summary and class histograms of DATA/DATASET.zarr
	c2p-data info $(STORE)

preview:  ## draw a few frames of one SEQUENCE to DATA/DATASET-SEQUENCE.png
	c2p-data preview $(STORE) $(SEQUENCE_OPT)

preview-views:  ## draw SEQUENCE next to two of its partial views, with the camera paths
	c2p-data preview $(STORE) $(SEQUENCE_OPT) --views

pretrain:  ## C2P pretraining of TASK's trunk on STORE into RUN (PRESET=small|paper, OPTS="-o k=v")
	c2p-train pretrain $(PRETRAIN_OPT) --out $(RUN)

demo-pretrain:  ## a short small pretraining on the demo store (runs/demo-pretrain, redone each time)
	c2p-train pretrain --store $(STORE) --preset small --out $(RUNS)/demo-pretrain --overwrite

finetune:  ## fine-tune TASK (INIT=pretraining run, LABELS=10|20|40|80, STORE=, PRESET=) into RUN
	c2p-train finetune $(FINETUNE_OPT) --out $(FINETUNE_RUN)

evaluate:  ## the test metrics of fine-tuning run RUN: a table, metrics.json, predictions.npz (PNG=1: pictures)
	c2p-train evaluate $(FINETUNE_RUN) $(if $(PNG),--png)

demo-finetune:  ## a short fine-tuning of the demo's pretraining on hoi4d-actseg (runs/demo-finetune, redone)
	c2p-train finetune --task hoi4d-actseg --store $(STORE) --preset small \
		--init $(RUNS)/demo-pretrain --epochs 4 --out $(RUNS)/demo-finetune --overwrite

demo-evaluate:  ## its test metrics and action timelines (runs/demo-finetune/timelines.png)
	c2p-train evaluate $(RUNS)/demo-finetune --png

cluster-pretrain:  ## submit a SLURM pretraining on NODES x GPUS (DRY_RUN=1 prints the script)
	c2p-train cluster-pretrain --nodes $(NODES) --gpus-per-node $(GPUS) $(if $(DRY_RUN),--dry-run) \
		$(PRETRAIN_OPT) --out $(RUN)

ablation:  ## the paper's comparisons at small scale -> ablation/report.md (QUICK=1: tiny, minutes)
	c2p-train ablation --task $(TASK) $(if $(QUICK),--quick --out ablation-quick,--store $(STORE))

bench:  ## print the benchmark tables (BENCH="kernels models" for some; QUICK=1 for tiny sizes)
	$(PYTHON) benchmarks/run.py $(BENCH) $(if $(QUICK),--quick)
