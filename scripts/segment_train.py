# Rule train_segment: Snakemake's objects to the library, nothing else (subjects excluded by an
# expected data problem are left out, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.segment.train import train_segmenter

params, inputs = snakemake.params, snakemake.input
with to_file(snakemake.log[0]):
    train = analysed_reads(params.train_subjects, inputs.records, params.reads)
    val = analysed_reads(params.val_subjects, inputs.records, params.reads)
    train_segmenter(
        train_paired=dict(zip(train[0], train[1]["paired"], strict=True)),
        val_paired=dict(zip(val[0], val[1]["paired"], strict=True)),
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
