# cine2lge: LGE-like images and enhancement probability from contrast-free cine MRI.
# This file only includes the rule files; see docs/architecture.md for the stage contracts.


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/quantify.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
