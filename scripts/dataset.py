# Stage script (rule dataset): one split's paired crops into memory-mapped training arrays
# (subjects excluded by an expected data problem are left out, cine2lge.exclusion).
from cine2lge.exclusion import keep_analysed
from cine2lge.logs import to_file
from cine2lge.preprocess.dataset import assemble_dataset

with to_file(snakemake.log[0]):
    entries = [
        {**entry, "npz": npz}
        for entry, npz in zip(snakemake.params.subjects, snakemake.input.paired, strict=True)
    ]
    _, entries = keep_analysed([e["subject"] for e in entries], snakemake.input.status, entries)
    assemble_dataset(entries, snakemake.output[0])
