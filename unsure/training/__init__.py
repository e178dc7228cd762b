"""Training routines for every posterior."""
from .classifier import TrainConfig, TrainLog, fit
from .evidential import evidential_mse_loss, kl_dirichlet_uniform

__all__ = ["TrainConfig", "TrainLog", "fit", "evidential_mse_loss", "kl_dirichlet_uniform"]
