# Stage script (rule dataset): one split's paired crops into memory-mapped training arrays.
from cine2lge.logs import to_file
from cine2lge.preprocess.dataset import assemble_dataset

with to_file(snakemake.log[0]):
    entries = [
        {**entry, "npz": npz}
        for entry, npz in zip(snakemake.params.subjects, snakemake.input, strict=True)
    ]
    assemble_dataset(entries, snakemake.output[0])
