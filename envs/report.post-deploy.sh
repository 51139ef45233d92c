#!/usr/bin/env bash
# Snakemake runs this inside the freshly created env (--sdm conda), from the working directory
# it was started in: the checkout. The env already holds every dependency at the lock's versions
# (the .yaml beside this file), so the package goes on top without dependencies.
set -euo pipefail
if ! grep -qs '^name = "cine2lge"' pyproject.toml; then
    echo "post-deploy: run snakemake from the cine2lge checkout (no pyproject.toml in $PWD)" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation -e .
