"""DICOM (or NIfTI) studies to NIfTI volumes, de-identified sidecars and QC records.

discover: headers of every file of a study folder -> series and frames (no pixels read).
classify: which series is the short-axis cine, which the short-axis LGE.
convert: frames -> (x, y, slice[, time]) float32 volume with its RAS affine.
deid: sidecar JSON with technical keys only (no PHI).
qc: per-subject QC record and the cohort table.
ingest: the stage entry points used by scripts/ingest*.py.
"""

from cine2lge.exclusion import ExpectedDataProblem


class IngestError(ExpectedDataProblem, ValueError):
    """A study cannot be converted; the message names the subject, the file and the problem.

    An expected data problem: the subject is excluded (cine2lge.exclusion), the cohort goes on.
    """
