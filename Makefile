# Every target creates .venv on first use. On a machine without CUDA the CPU build of torch is
# installed first (pip takes the local CPU wheel here); with an NVIDIA driver present, pip's
# default (CUDA) build is installed instead. Override with TORCH_SPEC=... if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
HAS_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
CPU_TORCH := torch==2.13.0
CUDA_TORCH := torch>=2.4,<=2.14.1
TORCH_SPEC ?= $(if $(HAS_CUDA),$(CUDA_TORCH),$(CPU_TORCH))

# Dagster's own DAGSTER_HOME and PCL_HOME from the environment win; these folders are only defaults.
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export PCL_HOME ?= $(CURDIR)/.pcl
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test test-slow test-scale dev bench bench-real study study-real clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

run: setup  ## materialize what is missing or stale and all it feeds, both datasets; print the summary (ARGS=--force, -v, --wait)
	$(PY) -m assets.cli run $(ARGS)

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

test-scale: setup  ## a Dask cluster runs the tiny graph with the instance on Postgres; k8s config validated
	$(PY) -m pip install --quiet -e ".[dev,scale]"
	$(PY) -m pytest -q -m scale

dev: setup  ## the Dagster UI on http://127.0.0.1:3000
	mkdir -p "$(DAGSTER_HOME)"
	$(VENV)/bin/dagster dev -w workspace.yaml

bench: setup
	$(PY) benchmarks/bench_graph.py

ML100K ?= /tmp/ml-100k
bench-real: setup  ## real MovieLens-100K (from the recbole wheel), 3 seeds, every task beside its baselines
	test -f $(ML100K)/u.data || $(PY) tools/ml100k_from_recbole.py $(ML100K)
	$(PY) benchmarks/bench_real.py --data $(ML100K) --seeds 0,1,2

study: setup  ## the reproduction study (Dagster job `study`, PCL_STUDY_SEEDS): reports/study.json, docs/study.md
	PCL_STUDY_MARKDOWN=$${PCL_STUDY_MARKDOWN:-$(CURDIR)/docs/study.md} $(PY) -m assets.cli study $(ARGS)

study-real: setup  ## the study on real MovieLens-100K (movielens only, its own PCL_HOME): docs/study-ml100k.md
	test -f $(ML100K)/u.data || $(PY) tools/ml100k_from_recbole.py $(ML100K)
	mkdir -p .pcl-ml100k/dagster_home && cp dagster_home/dagster.yaml .pcl-ml100k/dagster_home/
	# its own PCL_HOME and Dagster instance: the study assets' history on real data stays apart
	DAGSTER_HOME=$(CURDIR)/.pcl-ml100k/dagster_home PCL_HOME=$(CURDIR)/.pcl-ml100k PCL_MOVIELENS_PATH=$(ML100K) \
		PCL_STUDY_DATASETS=movielens PCL_STUDY_MARKDOWN=$(CURDIR)/docs/study-ml100k.md $(PY) -m assets.cli study $(ARGS)

clean:
	rm -rf .pcl .pcl-ml100k dagster_home/storage dagster_home/history dagster_home/logs dagster_home/schedules dagster_home/.telemetry
