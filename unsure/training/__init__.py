"""Training routines for every posterior."""
from .classifier import TrainConfig, TrainLog, fit

__all__ = ["TrainConfig", "TrainLog", "fit"]
