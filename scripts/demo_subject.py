# Rule demo_subject: write one synthetic subject (DICOM study + ground truth).
from cine2lge.logs import to_file
from cine2lge.phantom.write import write_subject

with to_file(snakemake.log[0]):
    write_subject(
        subject=snakemake.wildcards.subject,
        seed=snakemake.params.seed,
        dicom_dir=snakemake.output.dicom,
        labels_path=snakemake.output.labels,
        truth_path=snakemake.output.truth,
        cine_labels_path=snakemake.output.cine_labels,
        t2=snakemake.params.get("t2", False),
    )
