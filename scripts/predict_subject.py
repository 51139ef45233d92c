# Rule predict_subject: Snakemake's objects to the library, nothing else (an excluded subject
# gets a status.json instead, cine2lge.exclusion).
from cine2lge.exclusion import run_stage, stage_arguments
from cine2lge.logs import to_file
from cine2lge.model.predict import write_subject_outputs

with to_file(snakemake.log[0]):
    run_stage(
        lambda: write_subject_outputs(
            subject=snakemake.wildcards.subject,
            chunk_path=snakemake.input.chunk,
            paired_path=snakemake.input.paired,
            geometry_path=snakemake.input.geometry,
            cine_nifti=snakemake.input.cine,
            prediction_npz=snakemake.output.prediction,
            lgelike_nifti=snakemake.output.lgelike,
            probability_nifti=snakemake.output.enhancement_prob,
            slice_tsv=snakemake.output.slices,
            dicom_dir=snakemake.output.dicom,
        ),
        **stage_arguments(snakemake, "model", directories=("dicom",)),
    )
