"""Loupe: teach an image classifier by working through a folder of images."""

__version__ = "0.1.0"
