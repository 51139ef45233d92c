# Rule demo_subject_<chunk>: write each synthetic subject of the chunk (DICOM study + ground truth).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.phantom.write import write_subject

run_chunk(
    subject_jobs(snakemake),
    lambda job: write_subject(
        subject=job.subject,
        seed=snakemake.params.seed,
        dicom_dir=job.output["dicom"],
        labels_path=job.output["labels"],
        truth_path=job.output["truth"],
        cine_labels_path=job.output["cine_labels"],
        t2=snakemake.params.get("t2", False),
    ),
)
