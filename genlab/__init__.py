"""genlab: a Kubeflow Pipelines lab for generative deep learning.

The library computes; it never imports kfp. Components in ``components/`` wrap it.
"""

import os

# TensorFlow start-up chatter hides what matters in step logs; users can still raise it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def load(path: str, data: str | None = None):
    """A trained model (a model folder, a run folder or gs://) as a ``genlab.portable.TrainedModel``:
    ``sample(n)``, and ``decode``/``encode``/``interpolate``/``generate_text`` where the family has them."""
    from genlab.portable import load as _load

    return _load(path, data)
