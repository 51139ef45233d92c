# Stage script (rule dataset): one split's paired crops into memory-mapped training arrays
# (subjects excluded by an expected data problem are left out, cine2lge.exclusion).
from cine2lge.chunks import analysed_reads
from cine2lge.logs import to_file
from cine2lge.preprocess.dataset import assemble_dataset

with to_file(snakemake.log[0]):
    entry_of = {entry["subject"]: entry for entry in snakemake.params.subjects}
    subjects, reads = analysed_reads(
        list(entry_of), snakemake.input.records, snakemake.params.reads
    )
    entries = [
        {**entry_of[s], "npz": npz} for s, npz in zip(subjects, reads["paired"], strict=True)
    ]
    assemble_dataset(entries, snakemake.output[0])
