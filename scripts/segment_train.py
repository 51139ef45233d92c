# Rule train_segment: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.segment.train import train_segmenter

with to_file(snakemake.log[0]):
    train_segmenter(
        train_paired=dict(zip(snakemake.params.train_subjects, snakemake.input.train)),
        val_paired=dict(zip(snakemake.params.val_subjects, snakemake.input.val)),
        schemes=snakemake.params.schemes,
        section=snakemake.params.section,
        grid_size=snakemake.params.grid_size,
        checkpoint_dir=snakemake.params.checkpoints,
        weights_path=snakemake.output.weights,
        metrics_path=snakemake.output.metrics,
        use_gpu=snakemake.params.use_gpu,
        threads=snakemake.threads,
    )
