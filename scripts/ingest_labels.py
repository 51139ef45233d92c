# Rule ingest_labels: copy the sheet's label map after checking it lies on the image grid.
from cine2lge.dicom.ingest import ingest_labels
from cine2lge.logs import to_file

with to_file(snakemake.log[0]):
    ingest_labels(
        labels_path=snakemake.input.labels,
        grid_nifti=snakemake.input.grid,
        subject=snakemake.wildcards.subject,
        out_path=snakemake.output.nifti,
        qc_path=snakemake.output.qc,
        tolerance_mm=snakemake.params.tolerance_mm,
    )
