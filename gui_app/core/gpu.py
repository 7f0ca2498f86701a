"""The compute device TensorFlow would use, and whether a GPU is possible at all (no import)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def gpu_possible() -> bool:
    """Whether TensorFlow could see a GPU here, checked without importing it.

    Importing TensorFlow takes seconds and holds the GIL for long stretches (its C++ modules
    initialise), which froze the window when the feature thread asked TensorFlow only to learn
    there was no GPU. TensorFlow uses NVIDIA GPUs through ``/dev/nvidia*`` (``/dev/dxg`` under
    WSL2) and AMD ones through ``/dev/kfd`` (tensorflow-rocm) on Linux, Apple's through the
    tensorflow-metal plugin, and none on native Windows since 2.11.
    """
    if sys.platform.startswith("linux"):
        dev = Path("/dev")
        return any(dev.glob("nvidia[0-9]*")) or (dev / "dxg").exists() or (dev / "kfd").exists()
    if sys.platform == "darwin":
        return importlib.util.find_spec("tensorflow_metal") is not None
    return False


def describe_device() -> str:
    """``'GPU: <name>'`` when TensorFlow sees a GPU, else ``'CPU (<n> cores)'``."""
    cpu = f"CPU ({os.cpu_count() or 1} cores)"
    if not gpu_possible():  # no TensorFlow import just to learn there is no GPU
        return cpu
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
    except ImportError:
        return cpu
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)}"
    return cpu
