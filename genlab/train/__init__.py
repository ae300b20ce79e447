"""Distributed training: strategy from TF_CONFIG, the custom loop, checkpoints, the worker entry point."""

from genlab.train.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
