# Rule predict_chunk: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.model.stage import predict_subjects

with to_file(snakemake.log[0]):
    predict_subjects(
        subjects=snakemake.params.subjects,
        paired_paths=snakemake.input.paired,
        weights=snakemake.input.weights,
        out_path=snakemake.output[0],
        model_config=snakemake.params.model,
        threads=snakemake.threads,
        preprocess=snakemake.params.preprocess,
    )
