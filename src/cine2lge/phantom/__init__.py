"""Synthetic multi-site cardiac MR cohort (cine + LGE as real DICOM, ground-truth labels)."""
