"""Benchmark the demo cohort generator: python bench/demo_cohort.py [N] [--seed S] [--out DIR].

Generates subjects demo0001..demoN into a temporary folder (or --out) exactly as rule
demo_subject does, and prints the wall and CPU seconds, files and MB written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from cine2lge.phantom.cohort import demo_subject_id
from cine2lge.phantom.write import write_subject


def generate_cohort(n_subjects: int, seed: int, root: Path) -> list[float]:
    seconds = []
    for index in tqdm(range(1, n_subjects + 1), desc="demo subjects", unit="subject"):
        subject = demo_subject_id(index)
        folder = root / subject
        start = time.perf_counter()
        write_subject(
            subject,
            seed,
            folder / "dicom",
            folder / "truth" / "labels.nii.gz",
            folder / "truth" / "truth.json",
            cine_labels_path=folder / "truth" / "cine_labels.nii.gz",
        )
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_subjects", nargs="?", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, help="keep the cohort here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo_cohort_") as scratch:
        root = args.out or Path(scratch)
        wall, cpu = time.perf_counter(), time.process_time()
        seconds = generate_cohort(args.n_subjects, args.seed, root)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        files = [path for path in root.rglob("*") if path.is_file()]
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        dicom_files = sum(1 for path in files if path.parent.name == "dicom")
    print(
        f"{args.n_subjects} subjects: {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({wall / args.n_subjects:.2f} s/subject, slowest {max(seconds):.2f} s), "
        f"{len(files)} files ({dicom_files} DICOM), {megabytes:.1f} MB, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
