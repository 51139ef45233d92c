# The synthetic demo cohort: one whole DICOM study and its ground truth per subject, written in
# chunks of `subjects_per_job` subjects per job (common.smk: chunks_of).
# The T2 series (demo.t2) is a param only when on: a new param would make Snakemake rerun
# (and retrain on) every existing demo study.
DEMO_PARAMS = {"seed": config["demo"]["seed"]} | (
    {"t2": True} if config["demo"]["t2"] else {}
)
DEMO_CHUNKS = chunks_of([s for s in SUBJECTS if is_demo(s)])


for _chunk, _members in DEMO_CHUNKS.items():

    rule:
        name:
            f"demo_subject_{_chunk}"
        input:
            token=stage_token("demo_subject"),
        output:
            **indexed([demo_outputs(s) for s in _members]),
        log:
            **indexed([{"log": f"logs/demo/{s}.log"} for s in _members]),
        benchmark:
            f"benchmarks/demo/{_chunk}.tsv"
        conda:
            "../../envs/imaging.yaml"
        resources:
            mem_mb=lambda wc, attempt: 1000 * attempt,
            runtime=5 + 2 * len(_members),
        params:
            **DEMO_PARAMS,
            subjects=_members,
        script:
            "../../scripts/demo_subject.py"

    exact_outputs(f"demo_subject_{_chunk}")


# Every demo study is a target through its chunk job (common.smk: CHUNK_TARGETS).
TARGETS["demo"] = lambda: []
