# Stage: ingest (see docs/architecture.md): DICOM study folders (or NIfTI) -> NIfTI volumes,
# de-identified sidecars and QC. One job per subject ingests all of its roles (cine; LGE, T2 and
# labels where the sheet gives `lge`/`t2`/`myo`): few jobs keep the DAG of large cohorts fast to
# build. A rule has a fixed list of outputs, so there is one rule per role set present in the
# sheet, ingest_<roles> (ingest_cine, ingest_cine_lge, ingest_cine_labels, ingest_cine_lge_labels,
# ingest_cine_lge_t2_labels, ...), each limited to its subjects, with one job per chunk of them
# (ingest_<roles>_<chunk>, common.smk: chunks_of). Downstream stages ask ingest_outputs(subject) for the outputs
# their subject has.
from cine2lge.dicom.outputs import (
    ingest_paths,
    ingest_sources,
    output_patterns,
    series_uids,
    subjects_by_roles,
)

INGEST = "results/ingest"
# ingest_outputs(subject): that subject's ingest outputs by name (cine, cine_json, qc; lge,
# lge_json when the sheet gives `lge`; t2, t2_json with `t2`; labels with `myo`), for downstream
# inputs.
ingest_outputs = lambda subject: ingest_paths(ROWS[subject], subject, INGEST)
SUBJECTS_BY_ROLES = subjects_by_roles(ROWS)


for _roles, _members in SUBJECTS_BY_ROLES.items():
    for _chunk, _chunk_members in chunks_of(_members).items():
        _name = "ingest_" + "_".join(_roles)

        rule:
            name:
                f"{_name}_{_chunk}"
            input:
                **indexed([ingest_sources(ROWS[s]) for s in _chunk_members]),
                token=stage_token(_name),
            output:
                **indexed(
                    [
                        output_patterns(_roles, s, root=INGEST)
                        | {"status": f"{INGEST}/{s}/status.json"}
                        for s in _chunk_members
                    ]
                ),
                record=chunk_record("ingest", f"{_name}_{_chunk}", _chunk_members),
            log:
                **indexed([{"log": f"logs/ingest/{s}.log"} for s in _chunk_members]),
            benchmark:
                f"benchmarks/ingest/{_name}_{_chunk}.tsv"
            conda:
                "../../envs/imaging.yaml"
            threads: 2
            resources:
                mem_mb=lambda wc, attempt: 2000 * attempt,
                runtime=5 + 5 * len(_roles) * len(_chunk_members),
            params:
                subjects=_chunk_members,
                each={
                    s: {
                        "split": ROWS[s]["split"],
                        "series_uids": series_uids(ROWS[s]),
                    }
                    for s in _chunk_members
                },
                settings=config.get("ingest", {}),
                labels_tolerance_mm=config.get("ingest", {}).get(
                    "labels_tolerance_mm", 0.1
                ),
            script:
                "../../scripts/ingest_subject.py"

        exact_outputs(f"{_name}_{_chunk}")


rule ingest_qc_table:
    input:
        records=records("ingest", SUBJECTS),
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
        reads={"qc": f"{INGEST}/{{subject}}/qc.json"},
    script:
        "../../scripts/ingest_qc_table.py"


TARGETS["ingest"] = lambda: [f"{INGEST}/qc.tsv"]
