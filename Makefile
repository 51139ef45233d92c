# Two entry points (see README): `make demo` and `make test`. Both create .venv with Python 3.11+,
# install the CPU build of torch, the hashed lock and the project, then run.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel; GPU users install their own torch build first and set TORCH= (empty). torch is in
# no lock (requirements/README.md); keep this version equal to requirements/constraints.txt.
TORCH ?= torch==2.13.0
# Every other package, pinned with hashes (`make lock` regenerates them from pyproject.toml).
# requirements/lock.txt: runtime only; add requirements/lock-gpl-codecs.txt for JPEG Lossless.
LOCKS ?= requirements/lock-test.txt
CORES ?= all
BIN := $(VENV)/bin

.PHONY: install demo test report clean lock

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# --no-deps everywhere: the lock is complete (pip check proves it), so nothing unpinned or
# unhashed comes in; the project is built with the locked setuptools (no build isolation).
$(VENV)/.installed: $(BIN)/activate pyproject.toml $(LOCKS)
	$(if $(TORCH),$(BIN)/python -m pip install -q --no-deps "$(TORCH)")
	$(BIN)/python -m pip install -q --require-hashes --no-deps $(addprefix -r ,$(LOCKS))
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

install: $(VENV)/.installed

# The whole pipeline on the embedded synthetic demo cohort, then the HTML report.
demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

# loadfile: each test module runs on one worker, so a module-scoped pipeline or cluster run
# happens once (loadgroup ignored xdist_group marks with pytest 9.2 / xdist 3.8 here).
# The venv's bin/ on PATH: tests call its tools (dcm2niix of [test]) without an activated venv.
test: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadfile

# Regenerate requirements/lock*.txt and envs/*.yaml after a dependency change in pyproject.toml
# (existing pins kept; `make lock UPGRADE=1` moves everything to the newest versions). Runs uv
# from its own venv. torch is resolved against its CPU build: LOCK_FIND_LINKS (a folder of wheels,
# default pip's find-links) or LOCK_INDEX (e.g. https://download.pytorch.org/whl/cpu).
UV_VERSION ?= 0.13.9
LOCK_TOOLS ?= .venv-lock
LOCK_FIND_LINKS ?= $(PIP_FIND_LINKS)
LOCK_INDEX ?=
lock:
	test -x $(LOCK_TOOLS)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOLS) && \
		$(LOCK_TOOLS)/bin/python -m pip install -q "uv==$(UV_VERSION)"; }
	$(PYTHON) requirements/lock.py --uv $(LOCK_TOOLS)/bin/uv $(if $(UPGRADE),--upgrade) \
		$(addprefix --find-links ,$(LOCK_FIND_LINKS)) $(addprefix --index ,$(LOCK_INDEX))

clean:
	rm -rf results logs benchmarks .snakemake
