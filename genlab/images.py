"""The one place that names the container images the pipeline and the TFJob run.

Images follow the package version, so a compiled pipeline always points at the image
built from the same source. Override the registry with ``GENLAB_IMAGE_REGISTRY``.
"""

import os

from genlab import __version__

DEFAULT_REGISTRY = "ghcr.io/genlab"


def registry() -> str:
    return os.environ.get("GENLAB_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")


def trainer_image(gpu: bool = False) -> str:
    """The trainer image: ``<registry>/genlab-trainer[-gpu]:<version>``."""
    name = "genlab-trainer-gpu" if gpu else "genlab-trainer"
    return f"{registry()}/{name}:{__version__}"
