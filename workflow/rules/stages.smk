# Rules under the chunked stages' names (common.smk: stage_token): one local job each, touching
# the token file that every chunk of the stage reads, so `--forcerun <stage rule>` reruns it.
STAGE_RULES = ["demo_subject", "preprocess_subject", "segment_subject"]
STAGE_RULES += ["predict_subject", "quantify_lesions"]
STAGE_RULES += ["ingest_" + "_".join(roles) for roles in subjects_by_roles(ROWS)]


for _stage_rule in STAGE_RULES:

    rule:
        name:
            _stage_rule
        output:
            f"{STAGES_ROOT}/{_stage_rule}",
        log:
            f"logs/stages/{_stage_rule}.log",
        localrule: True
        conda:
            "../../envs/imaging.yaml"
        shell:
            "touch -d @0 {output} 2> {log}"
