"""What one training step computes: the loss of a batch and the gradients behind it.

An objective connects a data loader's :class:`~rnnkit.training.data.Batch` to a model.
The :class:`~rnnkit.training.Trainer` picks one from the data (token streams ->
:class:`LanguageModeling`, padded sequences -> :class:`Supervised`, sequence pairs ->
:class:`ModelLoss`); pass your own for anything else. The interface is two methods::

    loss, new_state = objective.train_step(model, batch, state)   # forward + backward
    metrics = objective.evaluate(model, data, max_batches)         # {"loss": ..., ...}

Data-parallel training (:mod:`rnnkit.distributed`) also uses, where an objective has them::

    w = objective.batch_weight(model, batch)        # how many items the batch loss averages
    sums = objective.evaluate_sums(model, data, max_batches)   # {"loss_sum", "count", ...}
    metrics = objective.metrics(sums)               # evaluate() == metrics(evaluate_sums())

so the ranks' gradients and validation sums can be added up exactly.

``train_step`` accumulates parameter gradients (the trainer zeroes them before and
clips/steps after); ``state`` is the hidden state carried from the previous batch
(None at the start of an epoch, and always None for objectives that do not carry it).

Language modelling (truncated BPTT)::

    logits, state' = model.forward(inputs (T, B), state)         # state from the last chunk
    L = mean_{t,b} CE(logits[t, b], targets[t, b])
    model.backward(dL/dlogits)        # BPTT stops at `state`: it is an input, not a graph node

Supervised many-to-one::

    y = model.forward(x, lengths=lengths)                         # (B, C)
    L = loss(y, targets);  model.backward(dL/dy)

Sequence targets (translation, CTC), where the loss depends on the model's structure::

    L = model.loss_and_backward(batch)      # teacher forcing / CTC: the model knows how
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit.errors import InputTypeError
from rnnkit.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from rnnkit.module import no_grad


def _batches(data, max_batches):
    """The first ``max_batches`` batches of epoch 0 (a rank's shard may skip empty ones)."""
    count = data.num_batches if max_batches is None else min(max_batches, data.num_batches)
    batches = (data.batch(0, i) for i in range(count))
    return (batch for batch in batches if batch is not None)


class LanguageModeling:
    """Next-token cross-entropy over every position, hidden state carried between batches.

    ``model.forward(ids, state) -> (logits, new_state)`` and ``model.backward(dlogits)``,
    as :class:`~rnnkit.models.LanguageModel`.
    """

    carries_state = True

    def __init__(self):
        self.loss = CrossEntropyLoss()

    def train_step(self, model, batch, state):
        logits, new_state = model.forward(batch.inputs, state)          # (T, B, V)
        loss = self.loss.forward(logits, batch.targets)
        model.backward(self.loss.backward())
        return loss, new_state

    @staticmethod
    def batch_weight(model, batch) -> int:
        """The loss is a mean over every target position."""
        return int(batch.targets.size)

    def evaluate(self, model, data, max_batches=None) -> dict:
        """Mean loss (nats/token) over the stream, state carried as in training.

        Returns ``{"loss", "bits_per_token", "perplexity"}``.
        """
        return self.metrics(self.evaluate_sums(model, data, max_batches))

    def evaluate_sums(self, model, data, max_batches=None) -> dict:
        total, count, state = 0.0, 0, None
        with no_grad():
            for batch in _batches(data, max_batches):
                logits, state = model.forward(batch.inputs, state)
                total += self.loss.forward(logits, batch.targets) * batch.targets.size
                count += batch.targets.size
        return {"loss_sum": total, "count": count}

    @staticmethod
    def metrics(sums) -> dict:
        loss = sums["loss_sum"] / sums["count"]
        return {"loss": loss, "bits_per_token": loss / math.log(2),
                "perplexity": math.exp(loss) if loss < 700 else None}


class Supervised:
    """One prediction per sequence: ``model.forward(x, lengths=lengths) -> (B, C)``.

    ``loss`` is a loss instance (default ``CrossEntropyLoss()`` on class ids). With
    ``BCEWithLogitsLoss`` or ``MSELoss`` and predictions ``(B, 1)``, targets of shape
    ``(B,)`` are compared with ``predictions[:, 0]``. ``evaluate`` adds ``accuracy``
    for the two classification losses.
    """

    carries_state = False

    def __init__(self, loss=None):
        self.loss = CrossEntropyLoss() if loss is None else loss
        if not callable(getattr(self.loss, "forward", None)) or not callable(
                getattr(self.loss, "backward", None)):
            raise InputTypeError(f"loss must have forward(pred, target) and backward(), got {loss!r}")

    def _squeeze(self, pred, targets):
        squeeze = (not isinstance(self.loss, CrossEntropyLoss) and pred.ndim == 2
                   and pred.shape[1] == 1 and np.ndim(targets) == 1)
        return (pred[:, 0] if squeeze else pred), squeeze

    def train_step(self, model, batch, state=None):
        pred = model.forward(batch.inputs, lengths=batch.lengths)      # (B, C)
        flat, squeezed = self._squeeze(pred, batch.targets)
        loss = self.loss.forward(flat, batch.targets)
        grad = self.loss.backward()
        model.backward(grad[:, None] if squeezed else grad)
        return loss, None

    @staticmethod
    def batch_weight(model, batch) -> int:
        """The loss is a mean over the batch's sequences."""
        return len(batch.targets)

    def evaluate(self, model, data, max_batches=None) -> dict:
        """Mean loss per sequence (and ``accuracy`` for classification losses)."""
        return self.metrics(self.evaluate_sums(model, data, max_batches))

    def evaluate_sums(self, model, data, max_batches=None) -> dict:
        total, correct, count = 0.0, 0, 0
        with no_grad():
            for batch in _batches(data, max_batches):
                pred = model.forward(batch.inputs, lengths=batch.lengths)
                flat, _ = self._squeeze(pred, batch.targets)
                n = len(batch.targets)
                total += self.loss.forward(flat, batch.targets) * n
                count += n
                if isinstance(self.loss, CrossEntropyLoss):
                    correct += int((flat.argmax(-1) == batch.targets).sum())
                elif isinstance(self.loss, BCEWithLogitsLoss):
                    correct += int(((flat > 0) == (np.asarray(batch.targets) > 0.5)).sum())
        return {"loss_sum": total, "correct": correct, "count": count}

    def metrics(self, sums) -> dict:
        total, count = sums["loss_sum"], sums["count"]
        metrics = {"loss": total / count}
        if isinstance(self.loss, (CrossEntropyLoss, BCEWithLogitsLoss)):
            metrics["accuracy"] = sums["correct"] / count
        if isinstance(self.loss, MSELoss):
            metrics["rmse"] = math.sqrt(total / count)
        return metrics


class ModelLoss:
    """The model computes the loss of a whole batch itself.

    For batches whose targets are sequences of their own (``Seq2SeqBatches``: ``targets
    (S, B)`` and ``target_lengths``), where the loss (teacher-forced cross-entropy, CTC)
    follows from the model's structure. The model provides::

        loss = model.loss_and_backward(batch)   # training: forward, loss, backward (+= grads)
        loss = model.loss(batch)                # evaluation; called under no_grad()

    ``evaluate`` returns ``{"loss"}``: the batch losses averaged with weights
    ``model.loss_weight(batch)`` when the model has that method (how many items its loss
    averaged over, e.g. time steps: the result is then the mean over every item), else the
    batch sizes (the mean per sequence when the model's loss is a mean over sequences).
    """

    carries_state = False

    @staticmethod
    def _method(model, name):
        method = getattr(model, name, None)
        if not callable(method):
            raise InputTypeError(f"{type(model).__name__} has no {name}(batch) method; ModelLoss (the "
                                 f"objective for sequence-pair batches) needs loss_and_backward(batch) "
                                 f"and loss(batch), or pass the Trainer an objective")
        return method

    def train_step(self, model, batch, state=None):
        return float(self._method(model, "loss_and_backward")(batch)), None

    @staticmethod
    def batch_weight(model, batch) -> int:
        """``model.loss_weight(batch)`` where the model has it, else the batch size."""
        weight = getattr(model, "loss_weight", None)
        return weight(batch) if callable(weight) else batch.inputs.shape[1]     # B: time-major

    def evaluate(self, model, data, max_batches=None) -> dict:
        return self.metrics(self.evaluate_sums(model, data, max_batches))

    def evaluate_sums(self, model, data, max_batches=None) -> dict:
        loss, total, count = self._method(model, "loss"), 0.0, 0
        with no_grad():
            for batch in _batches(data, max_batches):
                size = self.batch_weight(model, batch)
                total += float(loss(batch)) * size
                count += size
        return {"loss_sum": total, "count": count}

    @staticmethod
    def metrics(sums) -> dict:
        return {"loss": sums["loss_sum"] / sums["count"]}


def default_objective(data):
    """The objective a loader implies: token streams -> language modelling, sequence
    pairs -> the model's own loss, else supervised."""
    if getattr(data, "carries_state", False):
        return LanguageModeling()
    return ModelLoss() if getattr(data, "sequence_targets", False) else Supervised()
