# Rule predict_chunk: Snakemake's objects to the library, nothing else (subjects excluded by
# preprocessing are left out, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.model.stage import predict_subjects

with to_file(snakemake.log[0]):
    subjects, paired = keep_analysed(
        snakemake.params.subjects, snakemake.input.status, snakemake.input.paired
    )
    predict_subjects(
        subjects=subjects,
        paired_paths=paired,
        weights=snakemake.input.weights,
        out_path=snakemake.output[0],
        model_config=snakemake.params.model,
        threads=snakemake.threads,
        preprocess=snakemake.params.preprocess,
        probability_weights=(
            snakemake.input.probability[0] if snakemake.input.probability else None
        ),
    )
