"""kfp v2 components: one per pipeline step, each a thin wrapper over ``genlab.steps``."""

from components.evaluate_model import evaluate_model
from components.generate_samples import generate_samples
from components.prepare_data import prepare_data
from components.resolve_config import resolve_config
from components.train_model import train_model

__all__ = ["resolve_config", "prepare_data", "train_model", "evaluate_model", "generate_samples"]
