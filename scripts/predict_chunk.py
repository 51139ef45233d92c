# Rule predict_chunk: Snakemake's objects to the library, nothing else (subjects excluded by
# preprocessing are left out, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.model.stage import predict_subjects

with to_file(snakemake.log[0]):
    subjects, reads = analysed_reads(
        snakemake.params.subjects, snakemake.input.records, snakemake.params.reads
    )
    predict_subjects(
        subjects=subjects,
        paired_paths=reads["paired"],
        weights=snakemake.input.weights,
        out_path=snakemake.output[0],
        model_config=snakemake.params.model,
        threads=snakemake.threads,
        preprocess=snakemake.params.preprocess,
        probability_weights=(
            snakemake.input.probability[0] if snakemake.input.probability else None
        ),
    )
