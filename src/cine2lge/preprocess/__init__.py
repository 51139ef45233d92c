"""Preprocessing: LV localisation, crops, normalisation, cine-LGE pairing (docs/preprocess.md)."""
