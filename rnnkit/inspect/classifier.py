"""Everything the inspection page shows about a word classifier (``rnnkit sentiment``)
reading some texts, one text (sentence) at a time.

For a :class:`rnnkit.models.WordClassifier` in eval mode and each text of ``T`` words::

    e        = E[ids]                                   # (T, 1, embed_size)
    trace    = trace(rnn, e)                             # every state and gate, both directions
    p        = softmax(model(ids))                       # (C,) the text's classes, on hover
    salience = ||dz_c / de_t||, c = argmax p             # first-derivative saliency (Li et al.
               / max over the text's words               #   2016): the words the predicted
                                                         #   logit z_c is most sensitive to

``dz_c/de_t`` is the model's own hand-written backward of ``dy = onehot(c)``. The
activations of all texts are put end to end (each text ends its line), so the unit picker,
the ranking and the saturation read them as one text; a bidirectional layer's units are
``layer k h`` and ``layer k reverse h``. There is no gradient-flow plot: the pooled output
reads every step directly, there is no single loss at the end to travel back from.
"""

from __future__ import annotations

import numpy as np

from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import softmax
from rnnkit.inspect.language import TextInspection
from rnnkit.inspect.saturation import gate_saturation
from rnnkit.inspect.trace import DirectionTrace, Trace, trace, unit_columns
from rnnkit.inspect.units import rank_units, token_features

TOP_K = 5


def _classes_and_salience(model, ids) -> tuple[np.ndarray, np.ndarray]:
    """One forward and one backward of a text: its class probabilities ``p (C,)`` and the
    ``(T,)`` ``||dz_c/de_t||`` of the predicted class ``c``, relative to the largest."""
    logits = model.forward(ids[:, None])                                     # (1, C)
    p = softmax(logits.astype(np.float64))[0]
    dy = np.zeros_like(logits)
    dy[0, int(p.argmax())] = 1.0
    de = model.classifier.backward(dy)                                       # (T, 1, E)
    model.zero_grad()
    norms = np.linalg.norm(de[:, 0, :].astype(np.float64), axis=1)
    return p, (norms / norms.max() if norms.max() > 0 else norms)


def _joined(traces) -> Trace:
    """One trace of all texts end to end (states and gates concatenated in time)."""
    directions = []
    for k, first in enumerate(traces[0].directions):
        parts = [t.directions[k] for t in traces]
        join = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        directions.append(DirectionTrace(
            first.layer, first.direction, join("h"), None if first.c is None else join("c"),
            {g: np.concatenate([p.gates[g] for p in parts]) for g in first.gates}))
    return Trace(directions, np.concatenate([t.out for t in traces]))


def inspect_classifier(classifier, texts) -> TextInspection:
    """Trace a word classifier (``classifier.model`` a WordClassifier, ``.encoder`` a
    TextEncoder) over each of ``texts``; see the module docstring."""
    from rnnkit.models import WordClassifier
    model, vocab = classifier.model, classifier.encoder.vocab
    if not isinstance(model, WordClassifier):
        raise InputTypeError(f"the classifier's model must be a WordClassifier, got "
                             f"{type(model).__name__}")
    if isinstance(texts, str):
        raise InputTypeError("texts must be a list of strings, not one string")
    texts = [t for t in texts if not (isinstance(t, str) and not t.strip())]   # blank lines
    if not texts:
        raise InputError("texts must be a non-empty list of texts (strings with words)")
    was_training = model.training
    model.eval()
    try:
        return _inspect(classifier, model, vocab, texts)
    finally:
        model.train(was_training)


def _inspect(classifier, model, vocab, texts) -> TextInspection:
    classes = list(classifier.classes)
    pieces, traces, top_tokens, top_probs, salience, counts = [], [], [], [], [], {}
    skipped = sorted({w for text in texts for w in vocab.unknown(text)})
    for text, ids in zip(texts, classifier.encoder.transform(texts)):
        traced = trace(model.classifier.rnn, model.embedding.weight.data[ids][:, None, :])
        p, text_salience = _classes_and_salience(model, ids)                # (C,), (T,)
        order = np.argsort(-p, kind="stable")[:TOP_K]
        words = [w + " " for w in vocab.tokenize(text)]                      # unknown ones too
        words[-1] = words[-1][:-1] + "\n"                                     # one text a line
        pieces += words
        traces.append(traced)
        top_tokens += [[classes[k] for k in order]] * ids.size
        top_probs += [p[order]] * ids.size
        salience.append(text_salience)
        counts[classes[order[0]]] = counts.get(classes[order[0]], 0) + 1
    joined = _joined(traces)
    groups, activations = unit_columns(joined)
    inner = model.classifier
    cells = (f"{inner.num_layers} x {inner.hidden_size} {inner.cell.upper()}"
             + (" bidirectional" if inner.bidirectional else "") + f", {inner.pooling} pooling")
    predicted = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
    return TextInspection(
        pieces=pieces, groups=groups, activations=activations.astype(np.float32),
        top_tokens=top_tokens, top_probs=np.array(top_probs), score=np.concatenate(salience),
        ranking=rank_units(activations, token_features(pieces)),
        saturation=gate_saturation(joined), flow={},
        description=f"{cells}, {len(vocab)} words, classes {', '.join(classes)}",
        stats=f"{len(texts)} texts, predicted {predicted}", skipped=tuple(skipped),
        score_label="salience: |dz/de| of the predicted class", score_mode="salience",
        top_title="the text's classes:",
        flow_note="No gradient-flow plot for a classifier: its pooled output reads every step "
                  "directly. Choose 'salience' under units to see which words its prediction "
                  "is most sensitive to.")
