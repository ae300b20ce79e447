"""Launchers start the worker entry point N times with ``TF_CONFIG``: locally or as a TFJob."""

from genlab.launch.base import Launcher, TrainJob, get_launcher, worker_args

__all__ = ["Launcher", "TrainJob", "get_launcher", "worker_args"]
