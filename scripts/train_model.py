# Rule train_model: Snakemake's objects to the library, nothing else.
from cine2lge.logs import to_file
from cine2lge.model.stage import train_model

with to_file(snakemake.log[0]):
    train_model(
        train_dir=snakemake.input.train,
        val_dir=snakemake.input.val,
        weights_path=snakemake.output.weights,
        metrics_path=snakemake.output.metrics,
        checkpoint_dir=snakemake.params.checkpoints,
        model_config=snakemake.params.model,
        label_schemes=snakemake.params.label_schemes,
        threads=snakemake.threads,
        init_weights=snakemake.input.init[0] if snakemake.input.init else None,
        preprocess=snakemake.params.preprocess,
    )
