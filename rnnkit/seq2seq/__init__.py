"""Sequence-to-sequence models (machine translation): attention and the encoder-decoder.

One concept per file:

* ``attention.py``: additive, dot and general scores, the masked softmax over source
  positions, the context, Luong's attentional output layer;
* ``bridge.py``: the encoder's final states -> the decoder's initial states;
* ``decoder.py``: the attentional decoder, stacked cells run one step at a time;
* ``model.py``: :class:`Seq2Seq`, the whole model, its teacher-forced loss and its
  one-step decoding API.
"""

from rnnkit.seq2seq.attention import (
    Attention, AttentionalOutput, AttentionMemory, AdditiveScore, DotScore, GeneralScore,
)
from rnnkit.seq2seq.model import Memory, Seq2Seq, shift_right

__all__ = ["Seq2Seq", "Memory", "shift_right", "Attention", "AttentionalOutput",
           "AttentionMemory", "AdditiveScore", "DotScore", "GeneralScore"]
