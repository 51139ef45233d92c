"""cine2lge: LGE-like images and enhancement probability from contrast-free cine MRI."""

__version__ = "0.1.0"
