"""Coverage of the slice-level 95 % CIs (issue #15): simulated studies with slices clustered in
subjects and known population values (cine2lge.stats.coverage), per method and number of
subjects. `naive` treats slices as independent (Fisher z / DeLong), `percentile` is the
subject-clustered bootstrap the pipeline used before #15, `jackknife` the one it uses now.

    python bench/ci_coverage.py [--reps 1000] [--boot 1000] [--subjects 4 8 12 25]

Prints Markdown tables: coverage (median CI width) per statistic x method x n subjects, and the
coverage of the Bland-Altman limits of agreement (slices as independent vs repeated measures).
"""

from __future__ import annotations

import argparse
import time

from cine2lge.stats import coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="simulated studies per cell")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap draws per study")
    parser.add_argument("--subjects", type=int, nargs="+", default=[4, 8, 12, 25])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    start = time.perf_counter()
    table = coverage.coverage_table(
        tuple(args.subjects), n_rep=args.reps, n_boot=args.boot, seed=args.seed
    )
    table["cell"] = table.apply(
        lambda r: (
            f"{r['coverage']:.3f} ({r['median_width']:.2f})"
            + ("" if r["n_defined"] == r["n_rep"] else f" [{r['n_defined']}]")
        ),
        axis=1,
    )
    print(
        f"true r {coverage.true_r():.3f}, true AUC {coverage.true_auc():.3f}; "
        f"{args.reps} studies per cell, {coverage.SLICES[0]}-{coverage.SLICES[1]} slices per "
        f"subject, {args.boot} bootstrap draws; cell: coverage (median width) [studies with a "
        "CI, where fewer]\n"
    )
    wide = table.pivot_table(
        index=["statistic", "method"], columns="n_subjects", values="cell", aggfunc="first"
    )
    order = ["naive", "percentile", "bca", "bca_t", "jackknife"]
    wide = wide.reindex([(s, m) for s in ("r", "auc") for m in order])
    wide.columns = [f"{n} subjects" for n in wide.columns]
    print(wide.to_markdown())
    loa = coverage.loa_coverage_table(tuple(args.subjects), n_rep=args.reps, seed=args.seed)
    loa["cell"] = loa.apply(lambda r: f"{r['coverage_low']:.3f} / {r['coverage_high']:.3f}", axis=1)
    print("\nBland-Altman limits of agreement, coverage of the lower / upper limit's CI:\n")
    loa_wide = loa.pivot_table(index="method", columns="n_subjects", values="cell", aggfunc="first")
    loa_wide.columns = [f"{n} subjects" for n in loa_wide.columns]
    print(loa_wide.to_markdown())
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
