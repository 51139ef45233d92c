"""A Snakemake DAG check of large cohorts, done on strings (workflow/rules/common.smk).

Once the DAG is built, Snakemake 9 checks that no output lies inside another job's output
(`DAG.check_directory_outputs`): it sorts every output of every job as `Path(f).absolute()` and
compares neighbours. With the ~25 per-subject outputs of the chunked stages that is the largest
single step of the DAG build of a large cohort (~9 s CPU of ~40 at 10,000 subjects), nearly all of
it in pathlib. `nested_output` is the same check on tuples of path components: the same order
(pathlib sorts by components too), the same neighbour pairs, the same answer, several times faster.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import pairwise


def path_parts(path: str, cwd: str) -> tuple[str, ...]:
    """The components of `path` made absolute against `cwd`, as pathlib has them (empty and "."
    components dropped, ".." kept; the root left out: every path here is absolute)."""
    joined = path if path.startswith("/") else f"{cwd}/{path}"
    return tuple(part for part in joined.split("/") if part and part != ".")


def nested_output(
    outputs: Iterable[tuple[str, Hashable]], cwd: str
) -> tuple[tuple[tuple[str, ...], Hashable], tuple[tuple[str, ...], Hashable]] | None:
    """The first (parent, child) of sorted (path components, owner) pairs such that the child,
    the parent's neighbour in that order, lies inside the parent and has another owner; None if
    there is none. `outputs`: (path, owner) pairs, owners orderable where a path repeats (as
    Snakemake's jobs). This is Snakemake 9's DAG.check_directory_outputs without pathlib."""
    entries = sorted({(path_parts(str(path), cwd), owner) for path, owner in outputs})
    for (a, owner_a), (b, owner_b) in pairwise(entries):
        if len(b) > len(a) and b[: len(a)] == a and owner_a != owner_b:
            return (a, owner_a), (b, owner_b)
    return None
