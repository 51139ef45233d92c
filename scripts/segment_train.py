# Rule train_segment: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.segment.train import train_segmenter

params, inputs = snakemake.params, snakemake.input
with to_file(snakemake.log[0]):
    train_segmenter(
        train_paired=dict(zip(params.train_subjects, inputs.train, strict=True)),
        val_paired=dict(zip(params.val_subjects, inputs.val, strict=True)),
        schemes=params.schemes,
        section=params.section,
        grid_size=params.grid_size,
        checkpoint_dir=params.checkpoints,
        weights_path=snakemake.output.weights,
        metrics_path=snakemake.output.metrics,
        use_gpu=params.use_gpu,
        threads=snakemake.threads,
        init_weights=inputs.init[0] if inputs.init else None,
        preprocess=params.preprocess,
    )
