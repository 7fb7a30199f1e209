"""Ready-made models that the trainer and the applications train.

Every model here has ``forward``/``backward`` over time-major arrays and a
``config()`` of JSON-able constructor arguments, so ``build_model(name, config)``
rebuilds it from a checkpoint, whatever the caller has imported:

* ``MODELS``: the classes by name (the models of this package, and those given to
  :func:`register_model`);
* ``DEFINED_ELSEWHERE``: models of the higher layers (``rnnkit.forecasting``), by the
  module that defines and registers them. That module imports this package, so it is
  imported here only when a checkpoint first names one of its models.
"""

import importlib

from rnnkit.errors import InputError, InputTypeError
from rnnkit.models.acoustic import AcousticModel
from rnnkit.models.classifier import SequenceClassifier, SequenceRegressor
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.piano_roll import PianoRollModel
from rnnkit.models.pooling import MaxOverTime, MeanOverTime
from rnnkit.models.word_classifier import WordClassifier

MODELS = {cls.__name__: cls for cls in (LanguageModel, SequenceClassifier, SequenceRegressor,
                                        WordClassifier, AcousticModel, PianoRollModel)}
DEFINED_ELSEWHERE = {"Forecaster": "rnnkit.forecasting.model", "Seq2Seq": "rnnkit.seq2seq.model"}


def register_model(cls):
    """Make a model class (with ``config()``) rebuildable from checkpoints by its name.

    Usable as a decorator; returns ``cls``.
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "config", None)):
        raise InputTypeError(f"register_model expects a model class with a config() method, got {cls!r}")
    MODELS[cls.__name__] = cls
    return cls


def model_class(name: str):
    """The model class called ``name``; InputError naming it when rnnkit does not know it."""
    if name not in MODELS and name in DEFINED_ELSEWHERE:
        importlib.import_module(DEFINED_ELSEWHERE[name])       # registers it
    if name not in MODELS:
        raise InputError(
            f"unknown model class {name!r}: this rnnkit knows {sorted(set(MODELS) | set(DEFINED_ELSEWHERE))}; "
            f"the checkpoint may come from a newer rnnkit or from another program (a model "
            f"class of your own must be registered with rnnkit.models.register_model "
            f"before loading)")
    return MODELS[name]


def build_model(name: str, config: dict):
    """``model_class(name)(**config)``."""
    return model_class(name)(**config)


__all__ = ["LanguageModel", "SequenceClassifier", "SequenceRegressor", "WordClassifier", "AcousticModel",
           "PianoRollModel", "MeanOverTime", "MaxOverTime", "MODELS", "register_model", "model_class", "build_model"]
