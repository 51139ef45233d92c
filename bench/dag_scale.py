"""DAG scale benchmark: how long `snakemake -n` takes to build the DAG for large demo cohorts, and
how many cluster jobs the run would submit after grouping (group "subject" + group-components of
profiles/default).

    python bench/dag_scale.py                  # 1,000 and 10,000 subjects
    python bench/dag_scale.py --subjects 200 2000 --workdir /tmp/dag_scale
    python bench/dag_scale.py --quick          # one dry run per size instead of two

For each cohort size it writes a config with `subjects: demo` and `demo.n_subjects` into a fresh
work folder (nothing is run; no file exists, so every job is needed), then
  1. times `snakemake -n --quiet rules` (the DAG build; goal <= 60 s for 10,000 subjects),
  2. runs `snakemake -n` once more and counts the jobs a cluster run submits: one per group job
     ("Group job ..." in the dry-run listing) plus one per ungrouped job, without jobs of local
     rules and of rules without an action such as `all` (goal <= 2 per subject on average).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
GOAL_SECONDS_10K = 60.0
GOAL_JOBS_PER_SUBJECT = 2.0


SNAKEFILE = REPO / "Snakefile"


def write_config(workdir: Path, n_subjects: int, snakefile: Path) -> Path:
    """A work folder with the repository's config/ and a demo-cohort config of n_subjects."""
    shutil.copytree(snakefile.parent / "config", workdir / "config", dirs_exist_ok=True)
    # Shipped inputs (model weights) are read relative to the working directory.
    if (snakefile.parent / "resources").is_dir() and not (workdir / "resources").exists():
        (workdir / "resources").symlink_to(snakefile.parent / "resources")
    config = workdir / "dag_scale.yaml"
    config.write_text(yaml.safe_dump({"subjects": "demo", "demo": {"n_subjects": n_subjects}}))
    return config


def dry_run(snakefile: Path, workdir: Path, config: Path, *extra: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and combined output of `snakemake -n` on the workflow in
    `workdir`. CPU seconds are the steadier figure on a shared machine."""
    command = [str(SNAKEMAKE), "-s", str(snakefile), "-d", str(workdir)]
    command += ["-n", *extra, "--configfile", str(config)]
    start, cpu_start = time.perf_counter(), _children_cpu_s()
    # cwd = workdir: the workflow profile is then found beside the Snakefile (profiles/default).
    result = subprocess.run(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seconds, cpu_s = time.perf_counter() - start, _children_cpu_s() - cpu_start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}")
    return seconds, cpu_s, result.stdout


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rules_without_cluster_jobs(snakefile: Path, workdir: Path, config: Path) -> set[str]:
    """Rules whose jobs never become SLURM jobs: local rules and rules without an action."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[config]),
            snakefile=snakefile,
            workdir=workdir,
        )
        workflow = workflow_api._workflow
        return {rule.name for rule in workflow.rules if rule.norun} | set(workflow._localrules)


def count_cluster_jobs(listing: str, local_rules: set[str]) -> tuple[int, int, dict[str, int]]:
    """(group jobs, ungrouped cluster jobs, ungrouped jobs per rule) from a dry-run listing.
    Jobs inside a group are printed indented under "Group job ..."; others start a line."""
    group_jobs = len(re.findall(r"Group job \S+ \(jobs in lexicogr\. order\):", listing))
    per_rule: dict[str, int] = {}
    for rule in re.findall(r"^(?:\[[^\]]*\] )?(?:local)?rule (\w+):$", listing, re.M):
        if rule not in local_rules:
            per_rule[rule] = per_rule.get(rule, 0) + 1
    return group_jobs, sum(per_rule.values()), per_rule


def benchmark(
    n_subjects: int, root: Path, snakefile: Path = SNAKEFILE, quick: bool = False
) -> dict[str, float]:
    """Time the dry run and count cluster jobs; `quick` times the full listing run only (one
    dry run instead of two; a slight overestimate of the DAG build)."""
    workdir = root / f"subjects_{n_subjects}"
    config = write_config(workdir, n_subjects, snakefile)
    if quick:
        build_s, build_cpu_s, listing = dry_run(snakefile, workdir, config)
        summary, list_s = listing, build_s
    else:
        build_s, build_cpu_s, summary = dry_run(snakefile, workdir, config, "--quiet", "rules")
        list_s, _, listing = dry_run(snakefile, workdir, config)
    local_rules = rules_without_cluster_jobs(snakefile, workdir, config)
    group_jobs, ungrouped, per_rule = count_cluster_jobs(listing, local_rules)
    total_jobs = int(re.search(r"^total\s+(\d+)$", summary, re.M).group(1))
    cluster_jobs = group_jobs + ungrouped
    print(f"\n== {n_subjects} subjects ({workdir})")
    timed = "snakemake -n" if quick else "snakemake -n --quiet rules"
    print(f"DAG build ({timed}): {build_s:.1f} s ({build_cpu_s:.1f} s CPU)")
    if not quick:
        print(f"full dry-run listing (snakemake -n): {list_s:.1f} s")
    print(f"rule jobs: {total_jobs} ({total_jobs / n_subjects:.2f} per subject)")
    print(
        f"cluster jobs after grouping: {cluster_jobs} = {group_jobs} group jobs + "
        f"{ungrouped} ungrouped {dict(sorted(per_rule.items()))}"
    )
    print(f"cluster jobs per subject: {cluster_jobs / n_subjects:.3f}")
    return {
        "subjects": n_subjects,
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "rule_jobs": total_jobs,
        "cluster_jobs": cluster_jobs,
        "jobs_per_subject": cluster_jobs / n_subjects,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workdir", type=Path, help="keep work folders here (default: temp)")
    parser.add_argument("--snakefile", type=Path, default=SNAKEFILE, help="workflow to measure")
    parser.add_argument(
        "--quick", action="store_true", help="one dry run per size (times the full listing)"
    )
    args = parser.parse_args(argv)

    root = args.workdir or Path(tempfile.mkdtemp(prefix="dag_scale_"))
    results = [benchmark(n, root, args.snakefile.resolve(), args.quick) for n in args.subjects]

    print("\nsubjects  build_s  build_cpu_s  rule_jobs  cluster_jobs  jobs/subject")
    ok = True
    for r in results:
        print(
            f"{r['subjects']:>8}  {r['build_s']:>7.1f}  {r['build_cpu_s']:>11.1f}  "
            f"{r['rule_jobs']:>9}  {r['cluster_jobs']:>12}  {r['jobs_per_subject']:>12.3f}"
        )
        ok &= r["build_s"] <= GOAL_SECONDS_10K  # the goal for 10,000 holds for fewer too
        ok &= r["jobs_per_subject"] <= GOAL_JOBS_PER_SUBJECT
    print(
        f"goals: <= {GOAL_SECONDS_10K:.0f} s for 10,000 subjects, <= {GOAL_JOBS_PER_SUBJECT} "
        f"cluster jobs per subject: {'met' if ok else 'NOT met'}"
    )
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
