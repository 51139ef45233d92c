# Rules predict_subject_<chunk>: Snakemake's objects to the library for each subject of the chunk
# (an excluded subject gets a status.json instead, cine2lge.exclusion, cine2lge.chunks).
from cine2lge.chunks import run_chunk, subject_jobs
from cine2lge.model.predict import write_subject_outputs

run_chunk(
    subject_jobs(snakemake),
    lambda job: write_subject_outputs(
        subject=job.subject,
        chunk_path=job.params["inference"],
        paired_path=job.input["paired"],
        geometry_path=job.input["geometry"],
        cine_nifti=job.input["cine"],
        prediction_npz=job.output["prediction"],
        lgelike_nifti=job.output["lgelike"],
        probability_nifti=job.output["enhancement_prob"],
        slice_tsv=job.output["slices"],
        dicom_dir=job.output["dicom"],
    ),
    stage="model",
    directories=("dicom",),
    record=snakemake.output.record,
)
