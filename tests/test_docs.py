"""Rule names that README and docs tell users to type exist in the workflow."""

from __future__ import annotations

import re

# Rules of the tiny workflow docs/cluster.md explains --forcerun with (tests/cluster).
EXAMPLE_RULES = {"step_a", "step_b", "step_c"}
MENTIONS = (
    r"[Rr]ules? `([a-z][a-z0-9_]*)`",  # "rule `train_model`"
    r"--(?:until|forcerun|allowed-rules|omit-from) ([a-z][a-z0-9_]*)",  # command lines
)


def workflow_rules(repo) -> set[str]:
    """Named rules, the chunked stages' rules and the ingest rules named by role set
    (ingest.smk: "ingest_" + roles)."""
    from itertools import combinations

    from cine2lge.dicom.outputs import ROLE_COLUMNS

    files = [repo / "Snakefile", *sorted((repo / "workflow/rules").glob("*.smk"))]
    names = {name for f in files for name in re.findall(r"^rule (\w+):", f.read_text(), re.M)}
    # The chunked stages' rules under their stage names (stages.smk: STAGE_RULES), whose jobs
    # are <name>_chunkNNNN.
    stages = (repo / "workflow/rules/stages.smk").read_text()
    for listed in re.findall(r"^STAGE_RULES \+?= \[(.*)\]", stages, re.M):
        names |= set(re.findall(r'"([a-z_]+)"', listed))
    optional = [role for role in ROLE_COLUMNS if role != "cine"]  # the cine is always there
    for k in range(len(optional) + 1):
        names |= {"_".join(["ingest", "cine", *roles]) for roles in combinations(optional, k)}
    return names


def stage_table_rules(readme: str) -> set[str]:
    """Backticked names in the `rules` column of README's stage table (patterns skipped)."""
    names = set()
    for line in readme.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and re.match(r"\s*\d[a-z]? \w+", cells[1]):
            names |= {n for n in re.findall(r"`([^`]+)`", cells[2]) if re.fullmatch(r"\w+", n)}
    return names


def test_rule_names_in_readme_and_docs_exist(repo):
    rules = workflow_rules(repo)
    assert {"ingest_qc_table", "quantify_lesions", "train_model"} <= rules
    readme = (repo / "README.md").read_text()
    unknown = {("README.md", n) for n in stage_table_rules(readme) - rules}
    for path in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        for pattern in MENTIONS:
            for name in re.findall(pattern, path.read_text()):
                if name not in rules | EXAMPLE_RULES:
                    unknown.add((path.name, name))
    assert not unknown, f"rule names in the docs that the workflow does not define: {unknown}"


def test_the_stage_table_is_read():
    table = (
        "| 2 preprocess | `preprocess_subject`, `dataset` | x |\n"
        "| 3b segment | `train_segment` | y |"
    )
    assert stage_table_rules(table) == {"preprocess_subject", "dataset", "train_segment"}
