# Stage: ingest (see docs/architecture.md): DICOM study folders (or NIfTI) -> NIfTI volumes,
# de-identified sidecars and QC. One rule per role so that subjects without LGE or labels work;
# downstream stages ask ingest_outputs(subject) for the outputs their subject has.
from cine2lge.dicom.outputs import ingest_paths, labels_grid_path, qc_part_paths

INGEST = "results/ingest"
# ingest_outputs(subject): that subject's ingest outputs by name (cine, cine_json, qc; lge,
# lge_json when the sheet gives `lge`; labels when it gives `myo`), for downstream inputs.
ingest_outputs = lambda subject: ingest_paths(ROWS[subject], subject, INGEST)


rule ingest_cine:
    input:
        study=lambda wc: study_input(wc.subject, "cine"),
    output:
        nifti=f"{INGEST}/{{subject}}/cine.nii.gz",
        sidecar=f"{INGEST}/{{subject}}/cine.json",
        qc=f"{INGEST}/{{subject}}/qc_cine.json",
    log:
        "logs/ingest/{subject}_cine.log",
    benchmark:
        "benchmarks/ingest/{subject}_cine.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=15,
    params:
        role="cine",
        settings=config.get("ingest", {}),
        series_uids=lambda wc: ROWS[wc.subject].get("cine_series", ""),
    script:
        "../../scripts/ingest_series.py"


rule ingest_lge:
    input:
        study=lambda wc: study_input(wc.subject, "lge"),
    output:
        nifti=f"{INGEST}/{{subject}}/lge.nii.gz",
        sidecar=f"{INGEST}/{{subject}}/lge.json",
        qc=f"{INGEST}/{{subject}}/qc_lge.json",
    log:
        "logs/ingest/{subject}_lge.log",
    benchmark:
        "benchmarks/ingest/{subject}_lge.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=15,
    params:
        role="lge",
        settings=config.get("ingest", {}),
        series_uids=lambda wc: ROWS[wc.subject].get("lge_series", ""),
    script:
        "../../scripts/ingest_series.py"


rule ingest_labels:
    input:
        labels=lambda wc: study_input(wc.subject, "myo"),
        grid=lambda wc: labels_grid_path(ROWS[wc.subject], wc.subject, INGEST),
    output:
        nifti=f"{INGEST}/{{subject}}/labels.nii.gz",
        qc=f"{INGEST}/{{subject}}/qc_labels.json",
    log:
        "logs/ingest/{subject}_labels.log",
    benchmark:
        "benchmarks/ingest/{subject}_labels.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        tolerance_mm=config.get("ingest", {}).get("labels_tolerance_mm", 0.1),
    script:
        "../../scripts/ingest_labels.py"


rule ingest_qc:
    input:
        lambda wc: qc_part_paths(ROWS[wc.subject], wc.subject, INGEST),
    output:
        f"{INGEST}/{{subject}}/qc.json",
    log:
        "logs/ingest/{subject}_qc.log",
    benchmark:
        "benchmarks/ingest/{subject}_qc.tsv"
    group:
        "subject"
    conda:
        "../../envs/imaging.yaml"
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    script:
        "../../scripts/ingest_qc.py"


rule ingest_qc_table:
    input:
        lambda wc: [f"{INGEST}/{s}/qc.json" for s in SUBJECTS],
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
    script:
        "../../scripts/ingest_qc_table.py"


TARGETS["ingest"] = lambda: [f"{INGEST}/qc.tsv"]
