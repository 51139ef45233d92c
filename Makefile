# Two entry points (see README): `make demo` and `make test`. Both create .venv with Python 3.11+,
# install the CPU build of torch and the project, then run.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel; GPU users install their own torch build first and set TORCH= (empty).
TORCH ?= torch==2.13.0
CORES ?= all
BIN := $(VENV)/bin

.PHONY: install demo test report clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(if $(TORCH),$(BIN)/python -m pip install -q "$(TORCH)")
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# The whole pipeline on the embedded synthetic demo cohort, then the HTML report.
demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

# loadfile: each test module runs on one worker, so a module-scoped pipeline or cluster run
# happens once (loadgroup ignored xdist_group marks with pytest 9.2 / xdist 3.8 here).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf results logs benchmarks .snakemake
