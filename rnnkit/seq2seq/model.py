"""The encoder-decoder translation model with attention (Seq2Seq).

Layout is time-major: ``src (S, B)``, ``tgt_in (T, B)`` -> ``logits (T, B, V_tgt)``.
The computation, in order::

    x      = E_src[src]                              # (S, B, E)
    enc, s = RNN_enc(x, lengths=src_lengths)         # (S, B, dirs * H_e); enc = 0 past each length
    s0     = bridge(s)                               # (L, B, H) per state part (bridge.py)
    memory = attention.memory(enc, src_lengths)      # keys computed once (attention.py)
    logits = decoder(tgt_in, s0, memory)             # (T, B, V)  one step at a time (decoder.py)

Teacher forcing (:meth:`Seq2Seq.loss`): a batch's ``targets (T, B)`` are the sequences
to predict, ending with ``eos_id`` (the data side appends it; the model does not). The
decoder reads them shifted right (:func:`shift_right`)::

    tgt_in[0] = bos_id;  tgt_in[t] = targets[t - 1]  (pad_id where t > target_length)
    valid  = t < target_length                               # (T, B) bool, N = sum(valid)
    logits = decoder(tgt_in, s0, memory) at valid only       # (N, V)  the rows a loss reads
    L = sum_valid CE_ls(logits, targets[valid]) / N

a mean over target tokens, with optional label smoothing (``CrossEntropyLoss``). The
vocabulary projection, the softmax and their backward run over the ``N`` valid rows
only: a padded position's logits would get a zero gradient, so computing them (as
:meth:`Seq2Seq.forward` does, for every position) changes nothing but the time.

Special ids are constructor arguments (``pad_id=0, bos_id=1, eos_id=2``), the same for
source and target vocabularies; ``pad_id`` is both embeddings' ``padding_idx`` (a zero
row that gets no gradient). Padded source positions never count (packed encoder,
masked attention); padded target positions are fed but their loss is masked out.

Decoding one token at a time (``rnnkit.decoding``'s step functions)::

    memory = model.encode(src, src_lengths)          # Memory(attention, initial_state)
    state = model.initial_state(memory)              # tuple, batch on axis 1
    logits, state, weights = model.decode_step(tokens, state, memory)   # (R, V), ..., (R, S)

Every array in ``memory`` and ``state`` has the batch on axis 1, so
``rnnkit.decoding.select_rows(x, rows)`` expands both to ``R = B * K`` rows or reorders
beams; a beam search that must reorder the memory too can carry ``(state, memory)`` as
its state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnkit._validation import (
    check_dtype, check_float_array, check_index_array, check_lengths, check_positive_int,
    check_probability, check_scalar, require_forward,
)
from rnnkit.errors import InputError, InputTypeError
from rnnkit.layers import Embedding
from rnnkit.losses import CrossEntropyLoss
from rnnkit.models import register_model
from rnnkit.models._common import child_seeds, check_cell, dtype_name, make_recurrent, seed_to_json
from rnnkit.module import Module, is_grad_enabled, no_grad
from rnnkit.seq2seq.attention import KINDS, AttentionMemory
from rnnkit.seq2seq.bridge import Bridge
from rnnkit.seq2seq.decoder import AttentionalDecoder, as_tuple, for_cell

ATTENTION_KINDS = KINDS + ("none",)


class Memory(NamedTuple):
    """What the decoder reads, from :meth:`Seq2Seq.encode`; batch on axis 1 throughout."""

    attention: AttentionMemory | None   # values (S, B, H_enc), keys, padded (S, B); None: no attention
    initial_state: tuple                # the bridged decoder state parts, each (L, B, H)


def shift_right(targets, target_lengths, bos_id, pad_id):
    """Teacher forcing's decoder input and the valid-target mask.

    targets (T, B) ids (anything past each length), target_lengths (B,) ->
    ``tgt_in (T, B)`` = ``bos_id`` then ``targets[:-1]``, ``pad_id`` where ``t > length``,
    and ``valid (T, B)`` bool, True at ``t < length``.
    """
    T = targets.shape[0]
    valid = np.arange(T)[:, None] < target_lengths[None, :]                   # (T, B)
    tgt_in = np.empty(targets.shape, np.int64)
    tgt_in[0] = bos_id
    tgt_in[1:] = np.where(valid[:-1], targets[:-1], pad_id)
    return tgt_in, valid


# rnnkit.models.DEFINED_ELSEWHERE names this module: load_model imports it (and so
# registers Seq2Seq) when a checkpoint names a Seq2Seq, whatever the caller imported.
@register_model
class Seq2Seq(Module):
    """Encoder-decoder with attention (Bahdanau et al. 2015; Luong et al. 2015).

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : int
    embed_size : int
        Width of both embeddings.
    hidden_size : int
        Units of each decoder cell, ``H``.
    num_layers : int
        Stacked layers of the encoder and of the decoder (decoder layer ``l`` starts from
        encoder layer ``l``).
    cell : a name in ``rnnkit.CELLS`` ('gru', 'lstm', ...)
        The encoder's sequence layer and the decoder's single-step cells.
    bidirectional : bool
        Bidirectional encoder; its outputs are ``2 * encoder_hidden_size`` wide.
    encoder_hidden_size : int or None
        Units per encoder direction, ``H_e`` (default ``hidden_size``). The bridge is the
        identity when ``H_e == H`` and the encoder is unidirectional, Linear + tanh otherwise.
    attention : 'additive', 'dot', 'general' or 'none'
        'dot' needs the encoder outputs as wide as ``H``; 'none' is Sutskever et al. (2014).
    attention_size : int or None
        The additive score's width (default ``hidden_size``).
    input_feeding : bool
        Feed the previous attentional vector ``h~`` with the next input (Luong).
    dropout : float in [0, 1)
        Between stacked layers (encoder and decoder) and on ``h~`` before the vocabulary
        projection; training mode only (``decode_step`` never drops).
    label_smoothing : float in [0, 1]
        Of the training loss (:meth:`loss`), as ``torch.nn.CrossEntropyLoss``.
    pad_id, bos_id, eos_id : int
        Special ids, in both vocabularies (``eos_id`` is for decoding: where to stop).
    dtype : float32 or float64
    seed : int or None

    Parameter names: ``src_embedding.weight``, ``encoder.*`` (as ``torch.nn.LSTM``),
    ``bridge.h.*`` / ``bridge.c.*`` (when projecting), ``decoder.*`` (see decoder.py).
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size=32, hidden_size=64, num_layers=1,
                 cell="lstm", bidirectional=False, encoder_hidden_size=None, attention="general",
                 attention_size=None, input_feeding=True, dropout=0.0, label_smoothing=0.0,
                 pad_id=0, bos_id=1, eos_id=2, dtype=np.float32, seed=None):
        self.src_vocab_size = check_positive_int(src_vocab_size, "src_vocab_size")
        self.tgt_vocab_size = check_positive_int(tgt_vocab_size, "tgt_vocab_size")
        self.embed_size = check_positive_int(embed_size, "embed_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.cell = check_cell(cell)
        self.bidirectional = bool(bidirectional)
        self.encoder_hidden_size = check_positive_int(
            hidden_size if encoder_hidden_size is None else encoder_hidden_size, "encoder_hidden_size")
        if attention not in ATTENTION_KINDS:
            raise InputError(f"attention must be one of {list(ATTENTION_KINDS)}, got {attention!r}")
        self.attention = attention
        self.attention_size = None if attention_size is None else check_positive_int(
            attention_size, "attention_size")
        self.input_feeding = bool(input_feeding)
        self.dropout = check_probability(dropout, "dropout")
        self.label_smoothing = check_scalar(label_smoothing, "label_smoothing", float, low=0.0, high=1.0)
        smallest = min(self.src_vocab_size, self.tgt_vocab_size)
        self.pad_id, self.bos_id, self.eos_id = (
            check_scalar(value, name, int, low=0, high=smallest - 1, note=" (an id of both vocabularies)")
            for value, name in ((pad_id, "pad_id"), (bos_id, "bos_id"), (eos_id, "eos_id")))
        self.dtype = check_dtype(dtype)
        self.seed = seed_to_json(seed)
        directions = 2 if self.bidirectional else 1
        if attention == "dot" and self.context_size != self.hidden_size:
            raise InputError(f"attention='dot' needs encoder outputs as wide as "
                             f"hidden_size={self.hidden_size}, got {directions} x "
                             f"{self.encoder_hidden_size}; use 'general' or 'additive'")
        seeds = child_seeds(seed, 4)
        self.src_embedding = Embedding(self.src_vocab_size, self.embed_size, padding_idx=self.pad_id,
                                       dtype=self.dtype, seed=seeds[0])
        self.encoder = make_recurrent(self.cell, self.embed_size, self.encoder_hidden_size, self.num_layers,
                                      self.dropout, self.bidirectional, self.dtype, seeds[1])
        self.bridge = Bridge(self.encoder.state_names, self.num_layers, directions,
                             self.encoder_hidden_size, self.hidden_size, self.dtype, seeds[2])
        self.decoder = AttentionalDecoder(
            self.tgt_vocab_size, self.embed_size, self.hidden_size, self.num_layers, self.cell,
            attention, self.context_size, self.attention_size, self.input_feeding, self.dropout,
            self.pad_id, self.dtype, seeds[3])
        self.criterion = CrossEntropyLoss(label_smoothing=self.label_smoothing)
        self._shapes = None

    def config(self) -> dict:
        """JSON-able constructor arguments: ``Seq2Seq(**model.config())`` rebuilds it."""
        return {"src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
                "embed_size": self.embed_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell, "bidirectional": self.bidirectional,
                "encoder_hidden_size": self.encoder_hidden_size, "attention": self.attention,
                "attention_size": self.attention_size, "input_feeding": self.input_feeding,
                "dropout": self.dropout, "label_smoothing": self.label_smoothing,
                "pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id,
                "dtype": dtype_name(self.dtype), "seed": self.seed}

    # -- input checks ----------------------------------------------------------------
    def _check_ids(self, ids, name, vocab_size, batch=None):
        ids = check_index_array(ids, name, vocab_size)
        if ids.ndim != 2 or 0 in ids.shape or (batch is not None and ids.shape[1] != batch):
            want = "B" if batch is None else f"B={batch}"
            raise InputError(f"{name} must have shape ({name[0].upper()}, {want}) with both >= 1, "
                             f"got {ids.shape}")
        return ids

    def _check_source(self, src, src_lengths):
        src = self._check_ids(src, "src", self.src_vocab_size)
        S, B = src.shape
        return src, (np.full(B, S, np.int64) if src_lengths is None else check_lengths(src_lengths, B, S))

    # -- the encoder side ------------------------------------------------------------
    def _encode(self, src, src_lengths) -> Memory:
        x = self.src_embedding.forward(src)                                       # (S, B, E)
        enc, final = self.encoder.forward(x, lengths=src_lengths)                 # (S, B, dirs * H_e)
        initial_state = self.bridge.forward(as_tuple(final))                      # (L, B, H) each
        attention = None if self.attention == "none" else self.decoder.attention.memory(enc, src_lengths)
        return Memory(attention, initial_state)

    def _encode_backward(self, d_initial_state, d_values, d_keys, enc_shape):
        d_final = self.bridge.backward(d_initial_state)
        if self.attention == "none":
            d_enc = np.zeros(enc_shape, self.dtype)
        else:
            d_enc = self.decoder.attention.memory_backward(d_values, d_keys)      # (S, B, dirs * H_e)
        dx, _ = self.encoder.backward(d_enc, for_cell(d_final))
        self.src_embedding.backward(dx)

    # -- teacher forcing -------------------------------------------------------------
    def forward(self, src, src_lengths, tgt_in):
        """Logits of every target position under teacher forcing.

        src : (S, B) ids; src_lengths : (B,) in [1, S] (None: all S);
        tgt_in : (T, B) ids, the decoder's inputs (``bos_id`` first, see :func:`shift_right`).
        Returns ``logits (T, B, tgt_vocab_size)``.
        """
        src, src_lengths = self._check_source(src, src_lengths)
        tgt_in = self._check_ids(tgt_in, "tgt_in", self.tgt_vocab_size, batch=src.shape[1])
        return self._forward(src, src_lengths, tgt_in)

    def _forward(self, src, src_lengths, tgt_in, rows=None):
        """forward on checked inputs; logits (N, V) at ``rows (T, B)`` only, when given."""
        memory = self._encode(src, src_lengths)
        logits = self.decoder.forward(tgt_in, memory.initial_state, memory.attention, rows)
        enc_shape = src.shape + (self.context_size,)
        self._shapes = (enc_shape, logits.shape) if is_grad_enabled() else None
        return logits

    def backward(self, dlogits):
        """Backpropagate ``dL/dlogits`` (shaped as the last forward's logits: ``(T, B, V)``
        after :meth:`forward`, ``(N, V)`` after :meth:`loss`) through the decoder steps, the
        attention, the bridge and the encoder; accumulates every parameter gradient."""
        require_forward(self._shapes, "Seq2Seq")
        shape = self._shapes[1]
        doc = (f"(T, B={shape[1]}, tgt_vocab_size={shape[2]})" if len(shape) == 3
               else f"(N={shape[0]} valid targets, tgt_vocab_size={shape[1]})")
        check_float_array(dlogits, "dlogits", shape, self.dtype, doc)
        self._backward(dlogits)

    def _backward(self, dlogits):
        d_initial_state, d_values, d_keys = self.decoder.backward(dlogits)
        self._encode_backward(d_initial_state, d_values, d_keys, self._shapes[0])
        self._shapes = None

    @property
    def context_size(self) -> int:
        """Width of the encoder outputs the decoder attends to: ``dirs * H_e``."""
        return (2 if self.bidirectional else 1) * self.encoder_hidden_size

    # -- the Trainer's ModelLoss objective -------------------------------------------
    def loss(self, batch) -> float:
        """Mean (label-smoothed) cross-entropy per target token of a ``Seq2SeqBatches``
        batch (``inputs (S, B)``, ``lengths``, ``targets (T, B)``, ``target_lengths``)."""
        targets = np.asarray(batch.targets)
        target_lengths = (np.full(targets.shape[1], targets.shape[0], np.int64)
                          if batch.target_lengths is None
                          else check_lengths(batch.target_lengths, targets.shape[1], targets.shape[0]))
        src, src_lengths = self._check_source(batch.inputs, batch.lengths)
        tgt_in, valid = shift_right(targets, target_lengths, self.bos_id, self.pad_id)
        tgt_in = self._check_ids(tgt_in, "tgt_in", self.tgt_vocab_size, batch=src.shape[1])
        logits = self._forward(src, src_lengths, tgt_in, rows=valid)              # (N, V)
        return self.criterion.forward(logits, targets[valid])

    def loss_and_backward(self, batch) -> float:
        """:meth:`loss`, then its gradient into every ``Parameter.grad``."""
        value = self.loss(batch)
        self._backward(self.criterion.backward())        # the criterion's own (N, V): no check
        return value

    # -- decoding, one step at a time -------------------------------------------------
    def encode(self, src, src_lengths=None) -> Memory:
        """The source side once, for decoding (no caches): see the module docstring."""
        src, src_lengths = self._check_source(src, src_lengths)
        with no_grad():
            return self._encode(src, src_lengths)

    def initial_state(self, memory: Memory) -> tuple:
        """The decoding state before the first token: the bridged cell state parts, each
        ``(L, B, H)``, then, with input feeding, ``h~ = 0`` as ``(1, B, H)``."""
        if not isinstance(memory, Memory):
            raise InputTypeError(f"memory must be what Seq2Seq.encode returns, got {type(memory).__name__}")
        return self.decoder.initial_state(memory.initial_state)

    def decode_step(self, tokens, state, memory: Memory):
        """One decoder step for ``R`` rows (``R = B``, or ``B * K`` with expanded memory).

        tokens : (R,) ids, the previous tokens (``bos_id`` first);
        state : as :meth:`initial_state` or a previous call returns it;
        memory : from :meth:`encode`, with ``R`` rows.
        Returns ``logits (R, V)``, the new state, and the attention weights ``(R, S)``
        (None for ``attention='none'``).
        """
        tokens = check_index_array(tokens, "tokens", self.tgt_vocab_size)
        if tokens.ndim != 1 or tokens.size == 0:
            raise InputError(f"tokens must have shape (R,) with R >= 1, got {tokens.shape}")
        self._check_state(state, memory, tokens.size)
        logits, new_state, weights = self.decoder.step(tokens, state, memory.attention)
        return logits, new_state, None if weights is None else weights.T

    def _check_state(self, state, memory, rows) -> None:
        if not isinstance(memory, Memory):
            raise InputTypeError(f"memory must be what Seq2Seq.encode returns, got {type(memory).__name__}")
        L, H = self.num_layers, self.hidden_size
        shapes = [(L, rows, H)] * len(memory.initial_state) + ([(1, rows, H)] if self.input_feeding else [])
        if not isinstance(state, tuple) or len(state) != len(shapes):
            raise InputTypeError(f"state must be a tuple of {len(shapes)} arrays, as initial_state returns")
        for i, (part, shape) in enumerate(zip(state, shapes)):
            check_float_array(part, f"state[{i}]", shape, self.dtype, str(shape))
        if memory.attention is not None and memory.attention.values.shape[1] != rows:
            raise InputError(f"memory has {memory.attention.values.shape[1]} rows but tokens has {rows}; "
                             f"expand it with rnnkit.decoding.select_rows(memory, rows)")

    def __repr__(self):
        return (f"Seq2Seq({self.src_vocab_size} -> {self.tgt_vocab_size}, cell={self.cell!r}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, attention={self.attention!r}, "
                f"input_feeding={self.input_feeding}, dtype={self.dtype.name})")
