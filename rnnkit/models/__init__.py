"""Ready-made models that the trainer and the applications train.

Every model here has ``forward``/``backward`` over time-major arrays and a
``config()`` of JSON-able constructor arguments, so ``MODELS[name](**config)``
rebuilds it from a checkpoint.
"""

from rnnkit.errors import InputError, InputTypeError
from rnnkit.models.classifier import SequenceClassifier, SequenceRegressor
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.pooling import MaxOverTime, MeanOverTime

MODELS = {cls.__name__: cls for cls in (LanguageModel, SequenceClassifier, SequenceRegressor)}


def register_model(cls):
    """Make a model class (with ``config()``) rebuildable from checkpoints by its name.

    Usable as a decorator; returns ``cls``.
    """
    if not isinstance(cls, type) or not callable(getattr(cls, "config", None)):
        raise InputTypeError(f"register_model expects a model class with a config() method, got {cls!r}")
    MODELS[cls.__name__] = cls
    return cls


def build_model(name: str, config: dict):
    """``MODELS[name](**config)``, with a clear error for an unknown name."""
    if name not in MODELS:
        raise InputError(f"unknown model class {name!r}; known: {sorted(MODELS)} "
                         f"(register your own with rnnkit.models.register_model)")
    return MODELS[name](**config)


__all__ = ["LanguageModel", "SequenceClassifier", "SequenceRegressor", "MeanOverTime",
           "MaxOverTime", "MODELS", "register_model", "build_model"]
