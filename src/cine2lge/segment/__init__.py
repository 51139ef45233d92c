"""Automatic segmentation of the cine (LV blood pool, myocardium, RV) in crop space (issue 10)."""
