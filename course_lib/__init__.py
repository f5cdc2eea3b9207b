"""Reference system of the image-recognition course."""

__version__ = "0.1.0"
