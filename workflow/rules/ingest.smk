# Stage: ingest (see docs/architecture.md): DICOM study folders (or NIfTI) -> NIfTI volumes,
# de-identified sidecars and QC. One job per subject ingests all of its roles (cine; LGE, T2 and
# labels where the sheet gives `lge`/`t2`/`myo`): few jobs keep the DAG of large cohorts fast to
# build. A rule has a fixed list of outputs, so there is one rule per role set present in the
# sheet, ingest_<roles> (ingest_cine, ingest_cine_lge, ingest_cine_labels, ingest_cine_lge_labels,
# ingest_cine_lge_t2_labels, ...), each limited to its subjects. Downstream stages ask ingest_outputs(subject) for the outputs
# their subject has.
from cine2lge.dicom.outputs import (
    ingest_paths,
    ingest_sources,
    output_patterns,
    series_uids,
    subjects_by_roles,
    subjects_regex,
)

INGEST = "results/ingest"
# ingest_outputs(subject): that subject's ingest outputs by name (cine, cine_json, qc; lge,
# lge_json when the sheet gives `lge`; t2, t2_json with `t2`; labels with `myo`), for downstream
# inputs.
ingest_outputs = lambda subject: ingest_paths(ROWS[subject], subject, INGEST)
SUBJECTS_BY_ROLES = subjects_by_roles(ROWS)


for _roles, _members in SUBJECTS_BY_ROLES.items():

    rule:
        name:
            "ingest_" + "_".join(_roles)
        input:
            unpack(lambda wc: ingest_sources(ROWS[wc.subject])),
        output:
            **output_patterns(_roles, root=INGEST),
            status=f"{INGEST}/{{subject}}/status.json",
        log:
            "logs/ingest/{subject}.log",
        benchmark:
            "benchmarks/ingest/{subject}.tsv"
        # Role sets partition the subjects; a single set needs no (long) constraint.
        wildcard_constraints:
            subject=(
                subjects_regex(_members)
                if len(SUBJECTS_BY_ROLES) > 1
                else "[A-Za-z0-9_-]+"
            ),
        group:
            "subject"
        conda:
            "../../envs/imaging.yaml"
        threads: 2
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=15 * len(_roles),
        params:
            split=split_param,
            settings=config.get("ingest", {}),
            labels_tolerance_mm=config.get("ingest", {}).get("labels_tolerance_mm", 0.1),
            series_uids=lambda wc: series_uids(ROWS[wc.subject]),
        script:
            "../../scripts/ingest_subject.py"


rule ingest_qc_table:
    input:
        qc=[f"{INGEST}/{s}/qc.json" for s in SUBJECTS],
        status=statuses("ingest", SUBJECTS),
    output:
        report(
            f"{INGEST}/qc.tsv",
            category="Ingest",
            caption="../report/ingest_qc.rst",
        ),
    log:
        "logs/ingest/qc_table.log",
    benchmark:
        "benchmarks/ingest/qc_table.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        subjects=SUBJECTS,
    script:
        "../../scripts/ingest_qc_table.py"


TARGETS["ingest"] = lambda: [f"{INGEST}/qc.tsv"]
