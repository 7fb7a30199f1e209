"""Losses: forward returns a float, backward returns the gradient w.r.t. the prediction."""

from rnnkit.losses.bce import BCEWithLogitsLoss
from rnnkit.losses.cross_entropy import CrossEntropyLoss
from rnnkit.losses.ctc import CTCLoss, ctc_log_likelihood
from rnnkit.losses.mse import MSELoss

__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "CTCLoss", "ctc_log_likelihood"]
