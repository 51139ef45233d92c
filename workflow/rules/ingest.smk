# Stage: ingest (see docs/architecture.md): DICOM study folders (or NIfTI) -> NIfTI volumes,
# de-identified sidecars and QC. One rule per role so that subjects without LGE or labels work;
# downstream stages ask ingest_outputs(subject) for the outputs their subject has.
INGEST = "results/ingest"


def ingest_outputs(subject):
    """Ingest outputs of a subject that its sheet row makes exist, by name: cine, cine_json,
    qc, and lge, lge_json when `lge` is given, labels when `myo` is given."""
    base = f"{INGEST}/{subject}"
    outputs = {"cine": f"{base}/cine.nii.gz", "cine_json": f"{base}/cine.json"}
    if ROWS[subject]["lge"]:
        outputs |= {"lge": f"{base}/lge.nii.gz", "lge_json": f"{base}/lge.json"}
    if ROWS[subject]["myo"]:
        outputs["labels"] = f"{base}/labels.nii.gz"
    outputs["qc"] = f"{base}/qc.json"
    return outputs


def _ingest_qc_parts(wildcards):
    roles = [
        r for r in ("cine", "lge", "labels") if r in ingest_outputs(wildcards.subject)
    ]
    return [f"{INGEST}/{wildcards.subject}/qc_{role}.json" for role in roles]


def _labels_grid(wildcards):
    # Labels lie on the LGE grid; a subject without LGE may give labels on the cine grid.
    role = "lge" if ROWS[wildcards.subject]["lge"] else "cine"
    return f"{INGEST}/{wildcards.subject}/{role}.nii.gz"


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
        grid=_labels_grid,
    output:
        nifti=f"{INGEST}/{{subject}}/labels.nii.gz",
        qc=f"{INGEST}/{{subject}}/qc_labels.json",
    log:
        "logs/ingest/{subject}_labels.log",
    benchmark:
        "benchmarks/ingest/{subject}_labels.tsv"
    group:
        "subject"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        tolerance_mm=config.get("ingest", {}).get("labels_tolerance_mm", 0.1),
    script:
        "../../scripts/ingest_labels.py"


rule ingest_qc:
    input:
        _ingest_qc_parts,
    output:
        f"{INGEST}/{{subject}}/qc.json",
    log:
        "logs/ingest/{subject}_qc.log",
    benchmark:
        "benchmarks/ingest/{subject}_qc.tsv"
    group:
        "subject"
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
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    script:
        "../../scripts/ingest_qc_table.py"


TARGETS["ingest"] = lambda: [f"{INGEST}/qc.tsv"]
