"""Conditional diffusion model: cine frames -> LGE-like image and enhancement probability.

Modules: settings (config section), net (UNet + schedulers), data (dataset, augmentation),
train (training loop), checkpoint (safetensors weights, resumable state), sample (DDIM
ensembles -> probabilities), predict (chunked inference, per-subject outputs), export_dicom.
"""
