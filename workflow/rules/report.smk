# Stage: report (see docs/architecture.md). Statistics per test split, tables under
# results/tables/ (target rule `tables`), figures under results/figures/ (registered for
# `snakemake --report report.html`), and the reader study (package + analysis).

REPORT = config["report"]
READERS = REPORT["readers"]
# Analysed subjects: those of the report splits that have a real LGE to compare with.
REPORT_SUBJECTS = [s for s in subjects_in(*REPORT["splits"]) if ROWS[s]["lge"]]
SPLIT_OF = {s: ROWS[s]["split"] for s in REPORT_SUBJECTS}
SPLIT_ORDER = ["train", "val", "internal_test", "external_test", "predict"]
FIGURES = "results/figures"
SPLIT_SUBJECTS = {
    split: [s for s in REPORT_SUBJECTS if ROWS[s]["split"] == split]
    for split in REPORT["splits"]
}
# Table 1 covers the whole cohort: the ingest sidecars (LGE only where given) of every subject.
SIDECARS = {
    s: [f"results/ingest/{s}/{kind}.json" for kind in ("cine", "lge") if ROWS[s][kind]]
    for s in SUBJECTS
}


# The last stage of each subject (cine2lge.chunks.STAGE_ORDER): its status record carries any
# exclusion of an earlier stage, so a subject is analysed when its final status says so. Report
# tables and figures are built from the analysed subjects (the records of their chunks:
# common.smk, final_records); results/tables/exclusions.tsv lists the others.
_QUANTIFIED, _MODELLED = set(QUANTIFY_SUBJECTS), set(MODEL_SUBJECTS)
_STAGES_OF = {
    s: ["ingest", "preprocess"]
    + (["segment"] if s in _SEGMENTED else [])
    + (["model"] if s in _MODELLED else [])
    + (["quantify"] if s in _QUANTIFIED else [])
    for s in SUBJECTS
}
FINAL_STAGE = {s: stages[-1] for s, stages in _STAGES_OF.items()}
# Every chunk record, of every stage (a labelled subject's segment status is not upstream of its
# quantify one).
ALL_RECORDS = list(
    dict.fromkeys(path for of in RECORD_OF.values() for path in of.values())
)


# Image similarity is computed for chunks of `subjects_per_job` report subjects (sorted, like the
# other per-subject stages; common.smk: chunks_of), one job per chunk.
SIMILARITY_CHUNKS = chunks_of(REPORT_SUBJECTS)


rule report_similarity_chunk:
    input:
        records=lambda wc: final_records(SIMILARITY_CHUNKS[wc.chunk], "model"),
    output:
        "results/report/similarity/{chunk}.tsv",
    log:
        "logs/report/similarity/{chunk}.log",
    benchmark:
        "benchmarks/report/similarity/{chunk}.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        subjects=lambda wc: SIMILARITY_CHUNKS[wc.chunk],
        reads={
            "paired": "results/preprocess/{subject}/paired.npz",
            "prediction": "results/model/{subject}/prediction.npz",
        },
        myocardium_labels=lambda wc: {
            s: config["label_schemes"][ROWS[s].get("label_scheme") or "demo"][
                "myocardium"
            ]
            for s in SIMILARITY_CHUNKS[wc.chunk]
        },
        data_range=REPORT["similarity_data_range"],
    script:
        "../../scripts/report_similarity_chunk.py"


rule report_similarity:
    input:
        expand("results/report/similarity/{chunk}.tsv", chunk=SIMILARITY_CHUNKS),
    output:
        similarity="results/tables/similarity.tsv",
        similarity_slices="results/tables/similarity_slices.tsv",
    log:
        "logs/report/similarity.log",
    benchmark:
        "benchmarks/report/similarity.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        split_of=SPLIT_OF,
    script:
        "../../scripts/report_similarity.py"


rule report_agreement:
    input:
        lesions="results/tables/lesions.tsv",
    output:
        "results/tables/agreement.tsv",
    log:
        "logs/report/agreement.log",
    benchmark:
        "benchmarks/report/agreement.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=15,
    params:
        split_of=SPLIT_OF,
        settings=REPORT,
    script:
        "../../scripts/report_agreement.py"


rule report_roc:
    input:
        lesions="results/tables/lesions.tsv",
        records=final_records(REPORT_SUBJECTS, "model"),
    output:
        roc="results/tables/roc.tsv",
        roc_curve="results/tables/roc_curve.tsv",
        calibration="results/tables/calibration.tsv",
    log:
        "logs/report/roc.log",
    benchmark:
        "benchmarks/report/roc.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=15,
    params:
        subjects=REPORT_SUBJECTS,
        reads={
            "probabilities": "results/model/{subject}/slice_probability.tsv",
            "paired": "results/preprocess/{subject}/paired.npz",
        },
        split_of=SPLIT_OF,
        settings=REPORT,
    script:
        "../../scripts/report_roc.py"


rule report_cohort:
    input:
        records=final_records(SUBJECTS, "ingest"),
    output:
        report(
            "results/tables/table1.tsv",
            caption="../report/table1.rst",
            category="Cohort",
        ),
    log:
        "logs/report/cohort.log",
    benchmark:
        "benchmarks/report/cohort.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        subjects=SUBJECTS,
        reads={"paired": "results/preprocess/{subject}/paired.npz"},
        rows={s: {"split": ROWS[s]["split"], "site": ROWS[s]["site"]} for s in SUBJECTS},
        sidecars=SIDECARS,
        split_order=SPLIT_ORDER,
    script:
        "../../scripts/report_cohort.py"


rule report_summary:
    input:
        agreement="results/tables/agreement.tsv",
        roc="results/tables/roc.tsv",
        similarity="results/tables/similarity.tsv",
        records=final_records(REPORT_SUBJECTS),
    output:
        report(
            "results/tables/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/report/summary.log",
    benchmark:
        "benchmarks/report/summary.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    params:
        splits=REPORT["splits"],
        split_of=SPLIT_OF,
    script:
        "../../scripts/report_summary.py"


rule report_figures:
    input:
        lesions="results/tables/lesions.tsv",
        roc="results/tables/roc.tsv",
        roc_curve="results/tables/roc_curve.tsv",
        calibration="results/tables/calibration.tsv",
    output:
        scatter_subject=report(
            f"{FIGURES}/scatter_subject.png",
            caption="../report/scatter.rst",
            category="Agreement",
            subcategory="subject level",
        ),
        scatter_slice=report(
            f"{FIGURES}/scatter_slice.png",
            caption="../report/scatter.rst",
            category="Agreement",
            subcategory="slice level",
        ),
        bland_altman_subject=report(
            f"{FIGURES}/bland_altman_subject.png",
            caption="../report/bland_altman.rst",
            category="Agreement",
            subcategory="subject level",
        ),
        bland_altman_slice=report(
            f"{FIGURES}/bland_altman_slice.png",
            caption="../report/bland_altman.rst",
            category="Agreement",
            subcategory="slice level",
        ),
        roc=report(
            f"{FIGURES}/roc.png",
            caption="../report/roc.rst",
            category="Enhancement probability",
        ),
        calibration=report(
            f"{FIGURES}/calibration.png",
            caption="../report/calibration.rst",
            category="Enhancement probability",
        ),
        bullseye=report(
            f"{FIGURES}/bullseye.png",
            caption="../report/bullseye.rst",
            category="Agreement",
        ),
    log:
        "logs/report/figures.log",
    benchmark:
        "benchmarks/report/figures.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        split_of=SPLIT_OF,
        settings=REPORT,
    script:
        "../../scripts/report_figures.py"


rule report_panels:
    input:
        similarity="results/tables/similarity_slices.tsv",
        records=lambda wc: final_records(SPLIT_SUBJECTS[wc.split], "model"),
        lesions="results/tables/lesions.tsv",
    output:
        report(
            f"{FIGURES}/panels_{{split}}.png",
            caption="../report/panels.rst",
            category="Images",
        ),
    log:
        "logs/report/panels_{split}.log",
    benchmark:
        "benchmarks/report/panels_{split}.tsv"
    wildcard_constraints:
        split="|".join(REPORT["splits"]),
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        subjects=lambda wc: SPLIT_SUBJECTS[wc.split],
        reads={
            "paired": "results/preprocess/{subject}/paired.npz",
            "prediction": "results/model/{subject}/prediction.npz",
        },
        # Label values outlined on the real LGE (the subject's scheme's lesion classes).
        enhancement_labels=lambda wc: {
            s: lesion_labels(s) for s in SPLIT_SUBJECTS[wc.split]
        },
    script:
        "../../scripts/report_panels.py"


rule reader_package:
    input:
        records=final_records(REPORT_SUBJECTS, "model"),
    output:
        package=directory("results/readers/package"),
        key="results/readers/answer_key.tsv",
    log:
        "logs/report/reader_package.log",
    benchmark:
        "benchmarks/report/reader_package.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    params:
        subjects=REPORT_SUBJECTS,
        reads={
            "paired": "results/preprocess/{subject}/paired.npz",
            "prediction": "results/model/{subject}/prediction.npz",
        },
        settings=READERS,
    script:
        "../../scripts/reader_package.py"


rule reader_analysis:
    input:
        key="results/readers/answer_key.tsv",
        sheets=READERS["sheets"],
    output:
        reader_comparison="results/tables/reader_comparison.tsv",
        reader_agreement="results/tables/reader_agreement.tsv",
        readers=report(
            f"{FIGURES}/readers.png",
            caption="../report/readers.rst",
            category="Reader study",
        ),
    log:
        "logs/report/reader_analysis.log",
    benchmark:
        "benchmarks/report/reader_analysis.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        settings=READERS,
    script:
        "../../scripts/reader_analysis.py"


# Subjects excluded by an expected data problem: subject, split, stage, reason, log (header only
# when nobody is excluded).
rule exclusions:
    input:
        records=ALL_RECORDS,
    output:
        report(
            "results/tables/exclusions.tsv",
            caption="../report/exclusions.rst",
            category="Cohort",
        ),
    log:
        "logs/report/exclusions.log",
    benchmark:
        "benchmarks/report/exclusions.tsv"
    conda:
        "../../envs/report.yaml"
    resources:
        mem_mb=lambda wc, attempt: 500 * attempt,
        runtime=5,
    params:
        subjects=SUBJECTS,
    script:
        "../../scripts/report_exclusions.py"


REPORT_TABLES = [
    "results/tables/exclusions.tsv",
    "results/tables/lesions.tsv",
    "results/tables/agreement.tsv",
    "results/tables/roc.tsv",
    "results/tables/roc_curve.tsv",
    "results/tables/calibration.tsv",
    "results/tables/similarity.tsv",
    "results/tables/similarity_slices.tsv",
    "results/tables/table1.tsv",
    "results/tables/summary.tsv",
    "results/tables/reader_comparison.tsv",
    "results/tables/reader_agreement.tsv",
]


# Named target: `snakemake tables` (or results/tables/all.tsv) builds and indexes every table.
rule tables:
    input:
        REPORT_TABLES,
    output:
        "results/tables/all.tsv",
    log:
        "logs/report/tables.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/report_tables.py"


TARGETS["report"] = lambda: [
    "results/tables/all.tsv",
    *list(rules.report_figures.output),
    f"{FIGURES}/readers.png",
    *[f"{FIGURES}/panels_{split}.png" for split in REPORT["splits"]],
]
