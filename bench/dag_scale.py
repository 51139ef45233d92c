"""DAG scale benchmark: how long Snakemake takes to build the DAG for large demo cohorts, and how
many cluster jobs the run would submit after grouping (groups "subject" and "subject_results",
group-components of profiles/default).

    python bench/dag_scale.py                  # 1,000, 10,000 and 100,000 subjects
    python bench/dag_scale.py --quick --subjects-per-job 50   # chunks of 50 subjects per job
    python bench/dag_scale.py --subjects 200 2000 --workdir /tmp/dag_scale
    python bench/dag_scale.py --quick          # only the dry run (no parse, no rule graph)

For each cohort size it writes a config with `subjects: demo` and `demo.n_subjects` into a fresh
work folder (nothing is run; no file exists, so every job is needed) and times, each in its own
Snakemake process (wall and CPU seconds; CPU is the steadier figure on a shared machine):
  1. parse:      `snakemake --list-rules` (read the sheet, define the rules; no DAG),
  2. rule graph: `snakemake --rulegraph` (parse + DAG of jobs, without the group checks),
  3. dry run:    `snakemake -n`, with two marks:
     - DAG built: when Snakemake prints the job stats table, i.e. parse, DAG, group assignment
       and checks, needrun and job checks are done and a real run would submit its first job
       (the goal's figure: <= 60 s for 10,000 subjects);
     - dry run: the end, after the scheduler has also simulated the whole schedule and listed
       every job (in a real run that work is spread over the run, between the jobs),
and from the listing counts the rule jobs and the jobs a cluster run submits: one per group job
("Group job ..." in the listing) plus one per ungrouped job, without jobs of local rules and of
rules without an action such as `all` (goal <= 2 per subject on average).
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

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
GOAL_SECONDS_10K = 60.0
GOAL_SECONDS_100K = 600.0
GOAL_JOBS_PER_SUBJECT = 2.0
SNAKEFILE = REPO / "Snakefile"
# name -> Snakemake arguments; the order is the order of the runs and of the table's columns.
STEPS = {
    "parse": ("--list-rules",),
    "rulegraph": ("--rulegraph",),
    "dryrun": ("-n",),
}
QUICK_STEPS = ("dryrun",)
# Printed by Snakemake once the DAG is built, before the scheduler starts.
DAG_BUILT_LINE = "Job stats:"


# Snakemake's own floor: a chain of trivial shell rules per subject, no log, benchmark, group,
# resources, params or input functions. Its DAG build time is what any workflow with that many
# jobs per subject costs at least, on this machine and Snakemake version.
FLOOR_SNAKEFILE = """\
SUBJECTS = [f"s{i:06d}" for i in range(int(config["n_subjects"]))]
STAGES = int(config["stages"])


rule all:
    input:
        expand(f"stage{STAGES}/{{subject}}.txt", subject=SUBJECTS),


for _stage in range(1, STAGES + 1):

    rule:
        name:
            f"stage{_stage}"
        input:
            f"stage{_stage - 1}/{{subject}}.txt" if _stage > 1 else [],
        output:
            f"stage{_stage}/{{subject}}.txt",
        shell:
            "touch {output}"
"""


def floor(n_subjects: int, stages: int, root: Path) -> dict[str, float]:
    """DAG build of the floor workflow (FLOOR_SNAKEFILE) with `stages` jobs per subject."""
    workdir = root / f"floor_{n_subjects}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Snakefile").write_text(FLOOR_SNAKEFILE)
    config = workdir / "floor.yaml"
    config.write_text(yaml.safe_dump({"n_subjects": n_subjects, "stages": stages}))
    print(f"\n== floor: {n_subjects} subjects x {stages} trivial rules ({workdir})", flush=True)
    seconds, cpu_s, _, dag_built = run_snakemake(
        workdir / "Snakefile", workdir, config, "-n", "--cores", "1"
    )
    print(f"DAG built: {dag_built[0]:.1f} s ({dag_built[1]:.1f} s CPU); dry run {seconds:.1f} s")
    return {"subjects": n_subjects, "build_s": dag_built[0], "build_cpu_s": dag_built[1]}


def write_config(
    workdir: Path, n_subjects: int, snakefile: Path, subjects_per_job: int | None = None
) -> Path:
    """A work folder with the repository's config/ and a demo-cohort config of n_subjects."""
    shutil.copytree(snakefile.parent / "config", workdir / "config", dirs_exist_ok=True)
    # Shipped inputs (model weights) are read relative to the working directory.
    if (snakefile.parent / "resources").is_dir() and not (workdir / "resources").exists():
        (workdir / "resources").symlink_to(snakefile.parent / "resources")
    config = workdir / "dag_scale.yaml"
    settings = {"subjects": "demo", "demo": {"n_subjects": n_subjects}}
    if subjects_per_job:
        settings["subjects_per_job"] = subjects_per_job
    config.write_text(yaml.safe_dump(settings))
    return config


def run_snakemake(
    snakefile: Path, workdir: Path, config: Path, *args: str
) -> tuple[float, float, str, tuple[float, float] | None]:
    """Wall seconds, CPU seconds and combined output of one Snakemake call in `workdir`, and
    (wall, CPU) seconds at which it printed the job stats table (None if it never did)."""
    command = [str(SNAKEMAKE), "-s", str(snakefile), "-d", str(workdir), *args]
    command += ["--configfile", str(config)]  # last: --configfile takes every following word
    start, cpu_start = time.perf_counter(), _children_cpu_s()
    # cwd = workdir: the workflow profile is then found beside the Snakefile (profiles/default).
    process = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watched, lines, dag_built = psutil.Process(process.pid), [], None
    for line in process.stdout:
        if dag_built is None and line.startswith(DAG_BUILT_LINE):
            cpu = watched.cpu_times()
            dag_built = (time.perf_counter() - start, cpu.user + cpu.system)
        lines.append(line)
    returncode = process.wait()
    seconds, cpu_s = time.perf_counter() - start, _children_cpu_s() - cpu_start
    output = "".join(lines)
    if returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-4000:]}")
    return seconds, cpu_s, output, dag_built


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
            # Chunk rules (<stage rule>_chunkNNNN, one per chunk) are counted per stage.
            rule = re.sub(r"_chunk[0-9]+$", "_chunk*", rule)
            per_rule[rule] = per_rule.get(rule, 0) + 1
    return group_jobs, sum(per_rule.values()), per_rule


def count_rule_jobs(listing: str) -> int:
    """Total rule jobs from the job stats table of a dry-run listing."""
    return int(re.search(r"^total\s+(\d+)$", listing, re.M).group(1))


def benchmark(
    n_subjects: int,
    root: Path,
    snakefile: Path = SNAKEFILE,
    quick: bool = False,
    subjects_per_job: int | None = None,
) -> dict[str, float]:
    """Time the steps (`quick`: the dry run only) and, from the dry run, count rule jobs
    and cluster jobs for a demo cohort of n_subjects."""
    workdir = root / f"subjects_{n_subjects}"
    config = write_config(workdir, n_subjects, snakefile, subjects_per_job)
    result: dict[str, float] = {"subjects": n_subjects}
    print(f"\n== {n_subjects} subjects ({workdir})", flush=True)
    listing = ""
    for step, args in STEPS.items():
        if quick and step not in QUICK_STEPS:
            continue
        seconds, cpu_s, output, dag_built = run_snakemake(snakefile, workdir, config, *args)
        if step == "dryrun":
            listing = output
            if dag_built is None:
                raise RuntimeError(f"no {DAG_BUILT_LINE!r} line in the dry run's output")
            result["build_s"], result["build_cpu_s"] = dag_built
            print(
                f"DAG built (snakemake -n, job stats printed): {dag_built[0]:.1f} s "
                f"({dag_built[1]:.1f} s CPU)"
            )
        result[f"{step}_s"], result[f"{step}_cpu_s"] = seconds, cpu_s
        print(f"{step:>9} (snakemake {' '.join(args)}): {seconds:.1f} s ({cpu_s:.1f} s CPU)")
    if listing:
        local_rules = rules_without_cluster_jobs(snakefile, workdir, config)
        group_jobs, ungrouped, per_rule = count_cluster_jobs(listing, local_rules)
        result["rule_jobs"] = count_rule_jobs(listing)
        result["cluster_jobs"] = group_jobs + ungrouped
        print(
            f"rule jobs: {result['rule_jobs']} ({result['rule_jobs'] / n_subjects:.2f} per "
            f"subject); cluster jobs after grouping: {result['cluster_jobs']} = {group_jobs} "
            f"group jobs + {ungrouped} ungrouped {dict(sorted(per_rule.items()))}"
        )
    return result


def table(results: list[dict[str, float]]) -> str:
    """Seconds as `wall (CPU)` per step, jobs per subject; '-' for what was not measured."""
    steps = ["parse", "rulegraph", "build", "dryrun"]
    header = ["subjects", *(f"{step} s (CPU)" for step in steps), "rule jobs/subj"]
    header.append("cluster jobs/subj")
    rows = [header]
    for r in results:
        row = [str(r["subjects"])]
        for step in steps:
            seconds = r.get(f"{step}_s")
            row.append("-" if seconds is None else f"{seconds:.1f} ({r[f'{step}_cpu_s']:.1f})")
        for key in ("rule_jobs", "cluster_jobs"):
            row.append(f"{r[key] / r['subjects']:.2f}" if key in r else "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(lines)


def goals_met(results: list[dict[str, float]]) -> bool | None:
    """DAG build of 10,000 subjects or more within the goal, and few cluster jobs per subject
    for every size measured; None when they are few and no size reached 10,000 (the time goal
    is then not judged)."""
    ok = all(
        r["cluster_jobs"] / r["subjects"] <= GOAL_JOBS_PER_SUBJECT
        for r in results
        if "cluster_jobs" in r
    )
    large = [r for r in results if r["subjects"] >= 10_000]
    if not ok or not large:
        return None if ok else False
    return all(
        r["build_s"] <= (GOAL_SECONDS_100K if r["subjects"] >= 100_000 else GOAL_SECONDS_10K)
        for r in large
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument(
        "--subjects-per-job",
        type=int,
        help="config subjects_per_job (chunk size of the per-subject stages; default: config's)",
    )
    parser.add_argument("--workdir", type=Path, help="keep work folders here (default: temp)")
    parser.add_argument("--snakefile", type=Path, default=SNAKEFILE, help="workflow to measure")
    parser.add_argument(
        "--quick", action="store_true", help="only the dry run (DAG build and job counts)"
    )
    parser.add_argument(
        "--floor",
        type=int,
        metavar="STAGES",
        help="instead: Snakemake's floor, a chain of STAGES trivial shell rules per subject",
    )
    args = parser.parse_args(argv)

    root = args.workdir or Path(tempfile.mkdtemp(prefix="dag_scale_"))
    if args.floor:
        for n in args.subjects:
            floor(n, args.floor, root)
        return 0
    results = [
        benchmark(n, root, args.snakefile.resolve(), args.quick, args.subjects_per_job)
        for n in args.subjects
    ]
    print("\n" + table(results))
    met = goals_met(results)
    verdict = {True: "met", False: "NOT met", None: "not judged (no size >= 10,000)"}[met]
    print(
        f"goals: DAG built (snakemake -n, job stats printed) <= {GOAL_SECONDS_10K:.0f} s for "
        f"10,000 subjects and <= {GOAL_SECONDS_100K:.0f} s for 100,000, <= "
        f"{GOAL_JOBS_PER_SUBJECT} cluster jobs per subject: {verdict}"
    )
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if met is False else 0


if __name__ == "__main__":
    sys.exit(main())
