"""Everything the inspection page shows about a language model reading one text.

For a :class:`rnnkit.models.LanguageModel` and a text of ``N`` tokens (characters at
char level), in eval mode from a zero state::

    ids          = vocab.encode(text)                       # (N,)
    trace        = trace(model.rnn, embed(ids))              # every state and gate, every step
    activations  = [h of each layer, tanh(c) of each LSTM layer]   # (N, U)
    p_t          = softmax(h_top[t] W_hy^T + b_y)            # (N, V): the next-token guess
    top          = the 5 most likely next tokens after each token, with p
    score[t]     = p_t[ids[t+1]]                             # where the model errs: low
    ranking      = rank_units(activations, text_features)    # rnnkit/inspect/units.py
    saturation   = gate_saturation(trace)                    # rnnkit/inspect/saturation.py
    flow         = ||dL/dh_t|| of the top layer for the loss of the last token, over the
                   last ``window`` tokens, for the trained weights and for the same model at
                   initialisation (``LanguageModel(**model.config())``: its seeded start)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit.errors import InputError, InputTypeError
from rnnkit.functional import softmax
from rnnkit.inspect.gradient_flow import state_gradient_norms
from rnnkit.inspect.saturation import gate_saturation
from rnnkit.inspect.trace import state_gradients, trace, unit_columns
from rnnkit.inspect.units import rank_units, token_features

TOP_K = 5
FLOW_WINDOW = 200


@dataclass
class TextInspection:
    """What an inspection measured (``N`` tokens, ``U`` units): the page's data.

    ``score`` is one number in [0, 1] per token that the page can colour the text by:
    for a language model the probability it gave the actual next token (``score_mode``
    "surprise": blue where it is low), for a classifier each word's saliency ("salience":
    red where it is high). ``top_tokens`` / ``top_probs`` are what hovering shows under
    ``top_title``: the likeliest next tokens, or the sentence's classes.
    """

    pieces: list                        # N strings: each token as it is shown
    groups: list                        # [{"name", "offset", "size"}]: column ranges of U
    activations: np.ndarray             # (N, U) in [-1, 1]
    top_tokens: list                    # N lists of up to TOP_K labels
    top_probs: np.ndarray               # (N, K)
    score: np.ndarray                   # (N,) in [0, 1], nan where there is none
    ranking: list                       # rank_units(...): [{"feature", "unit", "r"}]
    saturation: list                    # [GateSaturation]
    flow: dict = field(default_factory=dict)   # {"trained", "init"}: (W,) by distance 0..W-1
    description: str = ""
    stats: str = ""                     # one line of what the model did on this text
    skipped: tuple = ()                 # distinct tokens of the text not in the vocabulary
    score_label: str = "p of the actual next token"
    score_mode: str = "surprise"        # "surprise" (low is blue) or "salience" (high is red)
    top_title: str = "model's top 5:"
    flow_note: str = ""                 # shown instead of the gradient flow when it is empty


def nats_per_token(next_prob: np.ndarray) -> float:
    """Mean ``-log p`` of the actual next tokens (nan entries skipped)."""
    return float(-np.nanmean(np.log(np.maximum(next_prob, 1e-300))))


def _inputs(model, ids) -> np.ndarray:
    """What the model's recurrent stack reads: (N, 1, D) one-hot rows or embeddings."""
    if model.embed_size is None:
        return np.eye(model.vocab_size, dtype=model.dtype)[ids][:, None, :]
    return model.embedding.weight.data[ids][:, None, :]


def _pieces(vocab, ids) -> list:
    tokens = [vocab.id_to_token(int(i)) for i in ids]
    if vocab.level == "char":
        return tokens
    return [t if t == "\n" else t + " " for t in tokens]


def top_flow(model, ids) -> np.ndarray:
    """``||dL/dh_t||`` of the top layer by distance from the loss, for the cross-entropy of
    the last token of ``ids`` predicted from the ones before it: (len(ids) - 1,)."""
    inputs, target = ids[:-1], int(ids[-1])
    traced = trace(model.rnn, _inputs(model, inputs))
    W_hy = model.decoder.weight.data                                       # (V, H)
    p = softmax(traced.out[-1] @ W_hy.T + model.decoder.bias.data)        # (1, V)
    p[0, target] -= 1.0                                                    # dL/dlogits
    d_out = np.zeros_like(traced.out)
    d_out[-1] = p @ W_hy                                                   # (1, H)
    state_gradients(model.rnn, traced, d_out)
    return state_gradient_norms(traced.directions[-1])[::-1]


def inspect_language_model(model, vocab, text: str, flow_window: int = FLOW_WINDOW,
                           top_k: int = TOP_K) -> TextInspection:
    """Trace ``model`` (a LanguageModel, uni-directional) over ``text``; see the module
    docstring. Characters the vocabulary lacks are left out (listed in ``skipped``)."""
    from rnnkit.models import LanguageModel
    if not isinstance(model, LanguageModel):
        raise InputTypeError(f"model must be a LanguageModel, got {type(model).__name__}")
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    skipped = tuple(vocab.unknown(text))
    ids = vocab.encode(text, on_unknown="auto")
    if ids.size < 2:
        raise InputError(f"the text needs at least 2 tokens the model knows, got {ids.size}")
    was_training = model.training
    model.eval()
    try:
        return _inspect(model, vocab, ids, skipped, flow_window, top_k)
    finally:
        model.train(was_training)


def _inspect(model, vocab, ids, skipped, flow_window, top_k) -> TextInspection:
    from rnnkit.models import LanguageModel
    traced = trace(model.rnn, _inputs(model, ids))
    groups, activations = unit_columns(traced)
    probs = softmax(traced.out[:, 0, :] @ model.decoder.weight.data.T
                     + model.decoder.bias.data)                            # (N, V)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]             # (N, K)
    next_prob = np.full(ids.size, np.nan)
    next_prob[:-1] = probs[np.arange(ids.size - 1), ids[1:]]
    pieces = _pieces(vocab, ids)
    features = token_features(pieces)
    window = ids[-(min(flow_window, ids.size - 1) + 1):]
    fresh = LanguageModel(**model.config()).eval()
    cells = f"{model.num_layers} x {model.hidden_size} {model.cell.upper()}"
    return TextInspection(
        pieces=pieces, groups=groups, activations=activations.astype(np.float32),
        top_tokens=[[vocab.id_to_token(int(i)) for i in row] for row in top],
        top_probs=np.take_along_axis(probs, top, axis=1), score=next_prob,
        ranking=rank_units(activations, features), saturation=gate_saturation(traced),
        flow={"trained": top_flow(model, window), "init": top_flow(fresh, window)},
        description=f"{cells}, {vocab.level} level, {len(vocab)} tokens",
        stats=f"{nats_per_token(next_prob):.3f} nats per token on this text", skipped=skipped)
