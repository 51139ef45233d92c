"""Throughput of the chunked per-subject stages: CPU seconds per subject and stage at different
chunk sizes (config `subjects_per_job`), from Snakemake's `benchmark:` files.

    python bench/chunk_throughput.py                        # 8 demo subjects, chunk sizes 1 and 50
    python bench/chunk_throughput.py --subjects 16 --sizes 1 8 50 --workdir /tmp/throughput

For each chunk size it runs the pipeline on a fresh demo cohort up to the lesion and similarity
tables (few diffusion samples: inference is not a chunked stage and is left out of the table),
then sums the `cpu_time` of every job of each chunked stage and divides by the subjects. A
chunk job costs `overhead + n x work` (imports, weights, settings once per job); from the sizes
1 and the largest it prints the fixed overhead per job and the overhead each subject pays at
that size (goal: <= 1 s per subject at 50; with fewer subjects than the chunk size the chunk
is the whole cohort, and the overhead at 50 is extrapolated as overhead / 50).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TARGETS = [
    "results/ingest/qc.tsv",
    "results/segment/qc.tsv",
    "results/tables/lesions.tsv",
    "results/tables/similarity.tsv",
]
# Chunked stage -> glob of its jobs' benchmark files (workflow/rules/*.smk).
STAGES = {
    "demo": "benchmarks/demo/chunk*.tsv",
    "ingest": "benchmarks/ingest/ingest_*_chunk*.tsv",
    "preprocess": "benchmarks/preprocess/chunk*.tsv",
    "segment": "benchmarks/segment/chunk*.tsv",
    "model outputs": "benchmarks/model/subjects_chunk*.tsv",
    "quantify": "benchmarks/quantify/chunk*.tsv",
    "similarity": "benchmarks/report/similarity/chunk*.tsv",
}
GOAL_OVERHEAD_S = 1.0


def run(n_subjects: int, size: int, root: Path, cores: int) -> dict[str, tuple[int, float]]:
    """{stage: (jobs, CPU seconds summed over its jobs)} of one run with `size` subjects/job."""
    workdir = root / f"subjects_per_job_{size}"
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(REPO / "config", workdir / "config")
    overrides = {
        "subjects": "demo",
        "demo": {"n_subjects": n_subjects},
        "subjects_per_job": size,
        "model": {"predict": {"n_samples": 2, "steps": 2}},
    }
    config = workdir / "throughput.yaml"
    config.write_text(yaml.safe_dump(overrides))
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    command += ["--cores", str(cores), *TARGETS, "--configfile", str(config)]
    print(f"\n== {n_subjects} subjects, {size} per job ({workdir})", flush=True)
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    totals = {}
    for stage, pattern in STAGES.items():
        files = sorted(workdir.glob(pattern))
        cpu = sum(float(pd.read_csv(f, sep="\t")["cpu_time"].sum()) for f in files)
        totals[stage] = (len(files), cpu)
        print(f"{stage:>14}: {len(files)} jobs, {cpu:.1f} s CPU", flush=True)
    return totals


def table(n_subjects: int, results: dict[int, dict[str, tuple[int, float]]]) -> str:
    sizes = sorted(results)
    header = ["stage", *(f"CPU s/subject @{s}" for s in sizes)]
    if len(sizes) > 1:
        header += ["overhead s/job", f"overhead s/subject @{sizes[-1]}"]
    rows = [header]
    for stage in [*STAGES, "total"]:
        if stage == "total":
            cpu = {s: sum(c for _, c in results[s].values()) for s in sizes}
            jobs = {s: sum(j for j, _ in results[s].values()) for s in sizes}
        else:
            cpu = {s: results[s][stage][1] for s in sizes}
            jobs = {s: results[s][stage][0] for s in sizes}
        row = [stage, *(f"{cpu[s] / n_subjects:.2f}" for s in sizes)]
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            # cpu = jobs x overhead + subjects x work, for both runs: solve for the overhead.
            saved_jobs = jobs[small] - jobs[large]
            overhead = (cpu[small] - cpu[large]) / saved_jobs if saved_jobs else float("nan")
            row += [f"{overhead:.2f}", f"{overhead / large:.3f}"]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep work folders here (default: temp)")
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="chunk_throughput_"))
    results = {size: run(args.subjects, size, root, args.cores) for size in args.sizes}
    print(f"\n{args.subjects} demo subjects; CPU seconds per subject of each chunked stage")
    print(table(args.subjects, results))
    print(f"goal: overhead <= {GOAL_OVERHEAD_S:.0f} s CPU per subject at 50 subjects per job")
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
