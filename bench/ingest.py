"""Ingest throughput side by side with dcm2niix, on the same files, in the same run.

    python bench/ingest.py [--sunnybrook DIR] [--demo N] [--repeat 3] [--threads 2]

Whole commands are timed (Python start-up and imports included, as for dcm2niix) for compressed
(.nii.gz vs `dcm2niix -z y`) and uncompressed (.nii vs `-z n`) output. Throughput counts every
input file of the studies (files/s, MB/s of DICOM read); the ratio is ours / dcm2niix, > 1 means
faster. dcm2niix converts every series of a folder to int16 (gzip level 6, or pigz when on PATH);
we convert the short-axis cine (and the LGE for demo studies, which is what the pipeline needs) to
float32 (the contract: values after rescale), gzip level 1 via ISA-L in threads — the input read is
the same; "out MB" shows what each wrote.
Best of `--repeat` runs is reported (the least disturbed by other load), with the median beside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS = """
import sys
from cine2lge.dicom.ingest import ingest_series
out, suffix, threads, roles = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
for index, folder in enumerate(sys.argv[5:]):
    for role in roles:
        stem = f"{out}/{index}_{role}"
        ingest_series(folder, f"s{index}", role, stem + suffix, stem + ".json", stem + "_qc.json",
                      threads=threads, progress=False)
"""


def _megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.nii*")) / 1e6


def _timed(command: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr[-2000:]}")
    return elapsed


def _dcm2niix(folders: list[Path], out: Path, compress: str) -> float:
    """dcm2niix over each study folder (one process per folder, as a pipeline would run it)."""
    started = time.perf_counter()
    for index, folder in enumerate(folders):
        target = out / str(index)
        _timed(
            ["dcm2niix", "-z", compress, "-b", "n", "-f", "%s_%p", "-o", str(target), str(folder)],
            target,
        )
    return time.perf_counter() - started


def _ours(folders: list[Path], out: Path, suffix: str, threads: int, roles: str) -> float:
    return _timed(
        [sys.executable, "-c", OURS, str(out), suffix, str(threads), roles, *map(str, folders)], out
    )


def _inputs(folders: list[Path]) -> tuple[int, float]:
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 1e6


def benchmark(name: str, folders: list[Path], roles: str, repeat: int, threads: int) -> None:
    n_files, megabytes = _inputs(folders)
    print(
        f"\n{name}: {len(folders)} studies, {n_files} files, {megabytes:.0f} MB"
        f" (we convert: {roles})"
    )
    print(
        f"{'output':<10} {'tool':<22} {'best s':>7} {'median s':>9} {'files/s':>8} {'MB/s':>7}"
        f" {'ratio':>6} {'out MB':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        tmp = Path(tmp)
        for label, suffix, flag in (("nii.gz", ".nii.gz", "y"), ("nii", ".nii", "n")):
            ours, theirs = [], []
            for _ in range(repeat):  # interleaved, so both see the same background load
                theirs.append(_dcm2niix(folders, tmp / "dcm2niix", flag))
                ours.append(_ours(folders, tmp / "ours", suffix, threads, roles))
            best_theirs, best_ours = min(theirs), min(ours)
            for tool, times, out in (
                (f"dcm2niix -z {flag}", theirs, tmp / "dcm2niix"),
                (f"cine2lge ({threads} threads)", ours, tmp / "ours"),
            ):
                best = min(times)
                ratio = f"{best_theirs / best_ours:6.2f}" if times is ours else ""
                print(
                    f"{label:<10} {tool:<22} {best:7.2f} {statistics.median(times):9.2f}"
                    f" {n_files / best:8.0f} {megabytes / best:7.1f} {ratio:>6}"
                    f" {_megabytes(out):7.1f}"
                )


def _demo_cohort(n_subjects: int, root: Path) -> list[Path]:
    from cine2lge.phantom.cohort import demo_subject_id
    from cine2lge.phantom.write import write_subject

    folders = []
    for index in range(1, n_subjects + 1):
        subject = demo_subject_id(index)
        study = root / subject
        if not (study / "truth.json").exists():
            write_subject(
                subject, 2026, study / "dicom", study / "labels.nii.gz", study / "truth.json"
            )
        folders.append(study / "dicom")
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sunnybrook", type=Path, default=REPO.parent / "shared" / "data" / "sunnybrook" / "dicom"
    )
    parser.add_argument("--demo", type=int, default=4, help="demo subjects (0: none)")
    parser.add_argument(
        "--demo-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench_demo",
        help="where the demo studies are generated (kept between runs)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    if shutil.which("dcm2niix") is None:
        sys.exit("dcm2niix not on PATH (pip install dcm2niix)")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sunnybrook = sorted(p for p in args.sunnybrook.glob("SCD*") if p.is_dir())
    if sunnybrook:
        benchmark("Sunnybrook (real GE cine)", sunnybrook, "cine", args.repeat, args.threads)
    else:
        print(f"no Sunnybrook studies under {args.sunnybrook}: skipped")
    if args.demo:
        folders = _demo_cohort(args.demo, args.demo_dir)
        benchmark("demo cohort (whole studies)", folders, "cine,lge", args.repeat, args.threads)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
