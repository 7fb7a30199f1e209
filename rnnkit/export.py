"""Export to ONNX: a trained layer or model as a graph that ONNX Runtime (or any ONNX
engine) runs without rnnkit, NumPy-free deployment on a server, a phone or in C++.

Built with the ``onnx`` package's helpers (``pip install 'rnnkit[onnx]'``; no torch), on
ONNX's own recurrent operators. Per layer ``k`` and direction, the weights are laid out as
the operators want them, in the order the code builds them::

    W[d] = W_ih[perm]       (G*H, D_k)        # gates reordered: torch -> ONNX
    R[d] = W_hh[perm]       (G*H, H)
    B[d] = [b_ih[perm], b_hh[perm]]   (2*G*H,)
    Y, Y_h[, Y_c] = LSTM|GRU|RNN(X_k, W, R, B, sequence_lens, initial_h[, initial_c])
    X_{k+1} = reshape(transpose(Y, (T, B, dirs, H)), (T, B, dirs*H))   # both directions

    gate order   torch / rnnkit            ONNX
    LSTM         i, f, g, o                i, o, f, c      perm = [0, 3, 1, 2]
    GRU          r, z, n                   z, r, h         perm = [1, 0, 2]
    GRU          reset_after=True          linear_before_reset=1 (False: 0)

The graph computes in float32 (ONNX Runtime's recurrent kernels are float32; a float64
model's weights are rounded). Variable lengths are ONNX's ``sequence_lens`` (outputs zero past each length, the final
state at the last valid step, the reverse direction starting there), which is what rnnkit
computes. The graph's first input is the layer's or model's input in its own layout, its
batch and time axes dynamic.

What exports (:func:`to_onnx`):

``RNN``, ``GRU``, ``LSTM`` (any ``num_layers``, ``bidirectional``, ``batch_first``)
    inputs ``x`` (+ ``h0`` [``c0``] with ``initial_state=True``, + ``lengths`` with
    ``lengths=True``); outputs ``output``, ``h_n`` [``c_n``], as the layer's ``forward``.
``LanguageModel``
    inputs ``ids (T, B)`` int64, ``h0`` [``c0``]; outputs ``logits (T, B, V)``, ``h_n``
    [``c_n``]: one step (``T = 1``) with the state fed back is text generation.
``SequenceClassifier``, ``SequenceRegressor``
    inputs ``x`` (ids or features), ``lengths (B,)`` int64; output ``logits`` or
    ``outputs (B, K)``, with 'last', 'mean' or 'max' pooling.

``WordClassifier``, ``Forecaster``, ``AcousticModel`` (frame stacking in the graph),
``PianoRollModel`` (Bernoulli: next-step probabilities; RNN-NADE: a step drawn from given
uniforms, the pitch loop unrolled) and ``Seq2Seq`` (two graphs: the encoder and one decoder
step); see docs/export.md for their inputs and outputs.

The layer-norm LSTM has no ONNX operator and is refused with a clear error.
"""

from __future__ import annotations

import os

import numpy as np

from rnnkit.errors import InputError, InputTypeError, MissingFileError

__all__ = ["to_onnx", "DEFAULT_OPSET", "EXPORTABLE"]

DEFAULT_OPSET = 17
GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}
EXPORTABLE = ("RNN", "GRU", "LSTM", "LanguageModel", "SequenceClassifier", "SequenceRegressor",
              "WordClassifier", "AcousticModel", "PianoRollModel", "Forecaster", "Seq2Seq")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise MissingFileError("ONNX export needs the onnx package: pip install 'rnnkit[onnx]'") from None
    return onnx


class _Graph:
    """Nodes, initializers and unique names of the graph being built."""

    def __init__(self):
        self.onnx = _onnx()
        self.dtype = np.dtype(np.float32)
        self.nodes, self.initializers, self._used = [], [], set()

    @property
    def elem_type(self):
        return self.onnx.helper.np_dtype_to_tensor_dtype(self.dtype)

    def name(self, base: str) -> str:
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def constant(self, base: str, array) -> str:
        name = self.name(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, base: str, array) -> str:
        return self.constant(base, np.ascontiguousarray(array, self.dtype))

    def op(self, op_type: str, inputs, outputs=1, base=None, **attributes):
        """Add a node; returns its output name (or names, for ``outputs > 1`` or a list)."""
        base = base or op_type.lower()
        names = ([self.name(f"{base}_out{i}" if outputs > 1 else base) for i in range(outputs)]
                 if isinstance(outputs, int) else outputs)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names,
                                                     name=self.name(f"{base}_node"), **attributes))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    def value(self, name, elem_type, shape):
        return self.onnx.helper.make_tensor_value_info(name, elem_type, shape)

    def model(self, inputs, outputs, opset, doc):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "rnnkit", inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="rnnkit", doc_string=doc)
        model.ir_version = min(model.ir_version, 9)         # readable by ONNX Runtime >= 1.16
        self.onnx.checker.check_model(model, full_check=True)
        return model


# --------------------------------------------------------------------------- recurrent layers


def _op_type(layer) -> str:
    from rnnkit.layers import GRU, LSTM, RNN

    for cls, name in ((LSTM, "LSTM"), (GRU, "GRU"), (RNN, "RNN")):
        if type(layer) is cls:
            return name
    raise InputError(f"{type(layer).__name__} has no ONNX operator (ONNX knows LSTM, GRU and "
                     f"the Elman RNN; the layer-norm LSTM would need its loop unrolled)")


def _onnx_weights(params, op_type, H, suffix=""):
    """W (G*H, D), R (G*H, H), B (2*G*H,) in ONNX gate order from torch-named parameters
    ``weight_ih{suffix}``, ``weight_hh{suffix}`` and the biases (zeros where absent)."""
    perm = GATE_ORDER[op_type]

    def reorder(array):                                  # blocks of H rows: torch -> ONNX order
        return np.concatenate([array[g * H:(g + 1) * H] for g in perm])

    W = reorder(params[f"weight_ih{suffix}"].data)
    R = reorder(params[f"weight_hh{suffix}"].data)
    if f"bias_ih{suffix}" in params:
        B = np.concatenate([reorder(params[f"bias_ih{suffix}"].data),
                            reorder(params[f"bias_hh{suffix}"].data)])
    else:
        B = np.zeros(2 * W.shape[0], W.dtype)
    return W, R, B


def _direction_weights(layer, op_type, k, suffix):
    """W, R, B of layer ``k``, one direction (``suffix`` '' or '_reverse')."""
    return _onnx_weights(dict(layer.named_parameters()), op_type, layer.hidden_size,
                         f"_l{k}{suffix}")


def _state_slice(g, state, k, dirs):
    """Rows ``k*dirs .. (k+1)*dirs`` of a stacked state ``(L*dirs, B, H)``."""
    return g.op("Slice", [state, g.constant("starts", np.array([k * dirs], np.int64)),
                          g.constant("ends", np.array([(k + 1) * dirs], np.int64)),
                          g.constant("axes", np.array([0], np.int64))], base=f"{state}_l{k}")


def recurrent_nodes(g, layer, x, h0=None, c0=None, lengths=None, prefix="rnn"):
    """The nodes of a time-major recurrent stack: ``x (T, B, D)`` ->
    ``(output (T, B, dirs*H), [Y_h per layer], [Y_c per layer])``."""
    op_type = _op_type(layer)
    dirs = 2 if layer.bidirectional else 1
    H = layer.hidden_size
    seq_lens = None if lengths is None else g.op("Cast", [lengths], base="lengths_int32",
                                                  to=g.onnx.TensorProto.INT32)
    finals_h, finals_c = [], []
    for k in range(layer.num_layers):
        parts = [_direction_weights(layer, op_type, k, s) for s in ["", "_reverse"][:dirs]]
        W, R, B = (np.stack(arrays) for arrays in zip(*parts))        # (dirs, ...)
        inputs = [x, g.weight(f"{prefix}_W_l{k}", W), g.weight(f"{prefix}_R_l{k}", R),
                  g.weight(f"{prefix}_B_l{k}", B), seq_lens or "",
                  _state_slice(g, h0, k, dirs) if h0 else ""]
        if op_type == "LSTM":
            inputs.append(_state_slice(g, c0, k, dirs) if c0 else "")
        attributes = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward",
                      **_cell_attributes(op_type, getattr(layer, "reset_after", True),
                                         getattr(layer, "nonlinearity", "tanh"), dirs)}
        while inputs and inputs[-1] == "":
            inputs.pop()
        outputs = g.op(op_type, inputs, 3 if op_type == "LSTM" else 2, base=f"{prefix}_l{k}",
                       **attributes)
        y = g.op("Transpose", [outputs[0]], base=f"{prefix}_l{k}_tbdh", perm=[0, 2, 1, 3])
        x = g.op("Reshape", [y, g.constant("shape_tb_", np.array([0, 0, -1], np.int64))],
                 base=f"{prefix}_l{k}_output")                           # (T, B, dirs*H)
        finals_h.append(outputs[1])
        if op_type == "LSTM":
            finals_c.append(outputs[2])
    return x, finals_h, finals_c


def _side_by_side(g, final, base):
    """A layer's final states ``(dirs, B, H)`` -> ``(B, dirs*H)``, forward then reverse (the
    order of the layer's outputs)."""
    per_row = g.op("Transpose", [final], base=f"{base}_bdh", perm=[1, 0, 2])
    return g.op("Reshape", [per_row, g.constant("shape_b_", np.array([0, -1], np.int64))],
                base=base)


def _stacked(g, finals, name):
    return g.op("Concat", finals, [name], axis=0) if len(finals) > 1 else g.op(
        "Identity", finals, [name])


# --------------------------------------------------------------------------- models


def _cell_attributes(op_type, reset_after=True, nonlinearity="tanh", directions=1):
    attributes = {}
    if op_type == "GRU":
        attributes["linear_before_reset"] = int(reset_after)
    if op_type == "RNN":
        attributes["activations"] = [{"tanh": "Tanh", "relu": "Relu"}[nonlinearity]] * directions
    return attributes


def _layer_graph(g, layer, initial_state, lengths):
    op_type = _op_type(layer)
    dirs = 2 if layer.bidirectional else 1
    D, H, L = layer.input_size, layer.hidden_size, layer.num_layers
    elem = g.elem_type
    x_shape = ["B", "T", D] if layer.batch_first else ["T", "B", D]
    inputs = [g.value("x", elem, x_shape)]
    x = g.op("Transpose", ["x"], base="x_time_major", perm=[1, 0, 2]) if layer.batch_first else "x"
    h0 = c0 = seq = None
    state_shape = [L * dirs, "B", H]
    if initial_state:
        inputs.append(g.value("h0", elem, state_shape))
        h0 = "h0"
        if op_type == "LSTM":
            inputs.append(g.value("c0", elem, state_shape))
            c0 = "c0"
    if lengths:
        inputs.append(g.value("lengths", g.onnx.TensorProto.INT64, ["B"]))
        seq = "lengths"
    out, finals_h, finals_c = recurrent_nodes(g, layer, x, h0, c0, seq)
    if layer.batch_first:
        g.op("Transpose", [out], ["output"], perm=[1, 0, 2])
    else:
        g.op("Identity", [out], ["output"])
    out_shape = ["B", "T", dirs * H] if layer.batch_first else ["T", "B", dirs * H]
    outputs = [g.value("output", elem, out_shape), g.value("h_n", elem, state_shape)]
    _stacked(g, finals_h, "h_n")
    if op_type == "LSTM":
        _stacked(g, finals_c, "c_n")
        outputs.append(g.value("c_n", elem, state_shape))
    return inputs, outputs


def _linear(g, linear, x, name, output=None):
    """``x W^T + b``."""
    y = g.op("MatMul", [x, g.weight(f"{name}_weight_T", linear.weight.data.T)], base=f"{name}_matmul")
    return g.op("Add", [y, g.weight(f"{name}_bias", linear.bias.data)],
                [output] if output else 1, base=name)


def _embedded(g, model, ids):
    """Token ids -> vectors: the embedding rows, or one-hot rows of the identity."""
    table = (np.eye(model.vocab_size) if model.embed_size is None else model.embedding.weight.data)
    return g.op("Gather", [g.weight("embedding", table), ids], base="embedded", axis=0)


def _carried_state(g, rnn, x):
    """A recurrent stack whose state a caller carries from call to call: graph inputs
    ``h0`` (and ``c0``), outputs ``h_n`` (and ``c_n``), each ``(L, B, H)``. Returns
    ``(state inputs, output (T, B, H), state outputs)``."""
    lstm = _op_type(rnn) == "LSTM"
    shape = [rnn.num_layers, "B", rnn.hidden_size]
    inputs = [g.value(name, g.elem_type, shape) for name in ("h0", "c0")[:1 + lstm]]
    out, finals_h, finals_c = recurrent_nodes(g, rnn, x, "h0", "c0" if lstm else None)
    outputs = []
    for name, finals in zip(("h_n", "c_n")[:1 + lstm], (finals_h, finals_c)):
        _stacked(g, finals, name)
        outputs.append(g.value(name, g.elem_type, shape))
    return inputs, out, outputs


def _language_model_graph(g, model):
    ids = g.value("ids", g.onnx.TensorProto.INT64, ["T", "B"])
    state_inputs, out, state_outputs = _carried_state(g, model.rnn, _embedded(g, model, "ids"))
    _linear(g, model.decoder, out, "decoder", "logits")
    logits = g.value("logits", g.elem_type, ["T", "B", model.vocab_size])
    return [ids, *state_inputs], [logits, *state_outputs]


def _valid_steps(g, x, lengths):
    """``t < lengths[b]`` as a bool ``(T, B, 1)`` for a time-major ``x``."""
    steps = g.op("Shape", [x], base="shape_x", start=0, end=1)              # [T]
    steps = g.op("Squeeze", [steps, g.constant("axis0_", np.array([0], np.int64))], base="T")
    t = g.op("Range", [g.constant("zero", np.array(0, np.int64)), steps,
                       g.constant("one", np.array(1, np.int64))], base="t")    # (T,)
    t = g.op("Unsqueeze", [t, g.constant("axis1_", np.array([1], np.int64))], base="t_column")
    valid = g.op("Less", [t, lengths], base="valid")                      # (T, B)
    return g.op("Unsqueeze", [valid, g.constant("axis2", np.array([2], np.int64))],
                base="valid_3d")


def _pooled(g, model, out, finals_h):
    """(T, B, F) -> (B, F): the last valid step (reverse half at t = 0), or the mean or
    max over the valid steps."""
    if model.pooling == "last":                                           # Y_h of the top layer
        return _side_by_side(g, finals_h[-1], "pooled")
    if model.pooling == "mean":                                           # padding is zero
        total = g.op("ReduceSum", [out, g.constant("axis0", np.array([0], np.int64))],
                     base="summed", keepdims=0)
        count = g.op("Cast", ["lengths"], base="lengths_float", to=g.elem_type)
        count = g.op("Unsqueeze", [count, g.constant("axis1", np.array([1], np.int64))],
                     base="lengths_column")
        return g.op("Div", [total, count], base="pooled")
    valid = _valid_steps(g, out, "lengths")                                # (T, B, 1)
    low = g.weight("minus_inf", np.array(-np.inf))
    masked = g.op("Where", [valid, out, low], base="masked")
    return g.op("ReduceMax", [masked], base="pooled", axes=[0], keepdims=0)


def _classifier_graph(g, model):
    elem = g.elem_type
    if model.vocab_size is None:
        inputs = [g.value("x", elem, ["T", "B", model.input_size])]
        x = "x"
    else:
        inputs = [g.value("x", g.onnx.TensorProto.INT64, ["T", "B"])]
        x = _embedded(g, model, "x")
    inputs.append(g.value("lengths", g.onnx.TensorProto.INT64, ["B"]))
    return inputs, _classifier_body(g, model, x)


def _word_classifier_graph(g, model):
    """Ids -> the word embedding (its dropout is training-only) -> the inner classifier."""
    inputs = [g.value("x", g.onnx.TensorProto.INT64, ["T", "B"]),
              g.value("lengths", g.onnx.TensorProto.INT64, ["B"])]
    x = g.op("Gather", [g.weight("embedding", model.embedding.weight.data), "x"],
             base="embedded", axis=0)
    return inputs, _classifier_body(g, model.classifier, x)


def _classifier_body(g, model, x):
    from rnnkit.models import SequenceRegressor

    elem = g.elem_type
    out, finals_h, _ = recurrent_nodes(g, model.rnn, x, lengths="lengths")
    name = "outputs" if isinstance(model, SequenceRegressor) else "logits"
    _linear(g, model.head, _pooled(g, model, out, finals_h), "head", name)
    return [g.value(name, elem, ["B", model.num_outputs])]


def _acoustic_graph(g, model):
    """Frame stacking (x zeroed past each length, padded to a multiple of k, k frames side by
    side), the recurrent stack over ``ceil(n / k)`` steps, the per-frame Linear."""
    k, F, elem = model.subsample, model.num_features, g.elem_type
    int64 = g.onnx.TensorProto.INT64
    inputs = [g.value("x", elem, ["T", "B", F]), g.value("lengths", int64, ["B"])]
    x = g.op("Where", [_valid_steps(g, "x", "lengths"), "x", g.weight("zero_f", np.array(0.0))],
             base="x_valid")                                              # 0 past each length
    lengths = "lengths"
    if k > 1:
        steps = g.op("Shape", ["x"], base="shape_T", start=0, end=1)      # [T]
        kk = g.constant("k", np.array([k], np.int64))
        extra = g.op("Mod", [g.op("Sub", [kk, g.op("Mod", [steps, kk], base="T_mod_k")],
                                  base="k_minus"), kk], base="pad_T")     # (k - T % k) % k
        pads = g.op("Concat", [g.constant("pads_begin", np.zeros(3, np.int64)), extra,
                               g.constant("pads_end", np.zeros(2, np.int64))], base="pads", axis=0)
        x = g.op("Pad", [x, pads], base="x_padded")            # (T'k, B, F): T padded at the end
        x = g.op("Transpose", [x], base="x_btf", perm=[1, 0, 2])
        x = g.op("Reshape", [x, g.constant("shape_stack", np.array([0, -1, k * F], np.int64))],
                 base="x_stacked")                                         # (B, T', kF)
        x = g.op("Transpose", [x], base="z", perm=[1, 0, 2])               # (T', B, kF)
        lengths = g.op("Div", [g.op("Add", ["lengths", g.constant("k_1", np.array(k - 1, np.int64))],
                                    base="lengths_plus"), g.constant("k_", np.array(k, np.int64))],
                       base="out_lengths_")
    g.op("Identity", [lengths], ["out_lengths"])
    out, _, _ = recurrent_nodes(g, model.rnn, x, lengths=lengths)
    _linear(g, model.head, out, "head", "logits")
    return inputs, [g.value("logits", elem, ["T_out", "B", model.num_classes]),
                    g.value("out_lengths", int64, ["B"])]


def _piano_roll_graph(g, model):
    """The music model one step (or chunk) at a time: the notes of the previous steps and
    the state in, the state out, and the next step's distribution: every pitch's
    probability of sounding (Bernoulli), or (RNN-NADE) a step drawn pitch by pitch from
    given uniforms ``u``, with each pitch's conditional probability along the way."""
    P, elem = model.num_pitches, g.elem_type
    notes = g.value("notes", elem, ["T", "B", P])
    state_inputs, out, state_outputs = _carried_state(g, model.rnn, "notes")
    if model.output == "bernoulli":
        g.op("Sigmoid", [_linear(g, model.head, out, "head")], ["probabilities"])
        return [notes, *state_inputs], [g.value("probabilities", elem, ["T", "B", P]), *state_outputs]
    uniforms = g.value("uniforms", elem, ["T", "B", P])
    return [notes, *state_inputs, uniforms], [*_nade_sample_nodes(g, model, out), *state_outputs]


def _nade_sample_nodes(g, model, out):
    """The NADE's draw, unrolled over the ``P`` pitches on ``N = T * B`` rows (as
    ``NADE.sample``: ``v_i = u_i < sigmoid(b_v,i + h_i . V_i)``, ``a += v_i W[:, i]``)."""
    nade, P, elem = model.nade, model.num_pitches, g.elem_type
    rows = g.constant("shape_rows", np.array([-1, P], np.int64))
    b_v = g.op("Reshape", [_linear(g, model.to_visible, out, "to_visible"), rows], base="b_v")
    a = g.op("Reshape", [_linear(g, model.to_hidden, out, "to_hidden"),
                         g.constant("shape_rows_h", np.array([-1, nade.num_hidden], np.int64))],
             base="a_0")                                                   # (N, Hn)
    u = g.op("Reshape", ["uniforms", rows], base="u")                      # (N, P)
    W, V = nade.W.data, nade.V.data                                        # (Hn, P), (P, Hn)
    axis1 = g.constant("axis1", np.array([1], np.int64))
    drawn, probabilities = [], []
    for i in range(P):
        h = g.op("Sigmoid", [a], base=f"h_{i}")
        z = g.op("Add", [g.op("Gather", [b_v, g.constant(f"i{i}", np.array(i, np.int64))],
                              base=f"b_v_{i}", axis=1),
                         g.op("MatMul", [h, g.weight(f"V_{i}", V[i])], base=f"hV_{i}")],
                 base=f"z_{i}")                                            # (N,)
        p = g.op("Sigmoid", [z], base=f"p_{i}")
        on = g.op("Cast", [g.op("Less", [g.op("Gather", [u, g.constant(f"j{i}", np.array(i, np.int64))],
                                              base=f"u_{i}", axis=1), p], base=f"less_{i}")],
                  base=f"v_{i}", to=elem)                                  # (N,) 0/1
        column = g.op("Unsqueeze", [on, axis1], base=f"v_col_{i}")         # (N, 1)
        if i < P - 1:
            a = g.op("Add", [a, g.op("Mul", [column, g.weight(f"W_{i}", W[:, i][None])],
                                     base=f"vW_{i}")], base=f"a_{i + 1}")
        drawn.append(column)
        probabilities.append(g.op("Unsqueeze", [p, axis1], base=f"p_col_{i}"))
    shape = g.op("Shape", ["uniforms"], base="shape_tbp")
    g.op("Reshape", [g.op("Concat", drawn, base="drawn", axis=1), shape], ["next_notes"])
    g.op("Reshape", [g.op("Concat", probabilities, base="conditionals", axis=1), shape],
         ["probabilities"])
    return [g.value("next_notes", elem, ["T", "B", P]), g.value("probabilities", elem, ["T", "B", P])]


def _forecaster_graph(g, model):
    """Windows ``x (T, B, D)`` -> the direct forecast ``(B, horizon * C)`` from the last
    step, or the recursive one-step forecasts ``(T, B, C)``."""
    elem = g.elem_type
    inputs = [g.value("x", elem, ["T", "B", model.input_size])]
    out, _, _ = recurrent_nodes(g, model.rnn, "x")
    if model.strategy == "direct":
        last = g.op("Gather", [out, g.constant("last", np.array(-1, np.int64))], base="last",
                    axis=0)                                              # (B, H)
        _linear(g, model.head, last, "head", "forecast")
        return inputs, [g.value("forecast", elem, ["B", model.horizon * model.output_size])]
    _linear(g, model.head, out, "head", "forecast")
    return inputs, [g.value("forecast", elem, ["T", "B", model.output_size])]


# --------------------------------------------------------------------------- seq2seq


def _cell_op_type(cell) -> str:
    name = {"LSTMCell": "LSTM", "GRUCell": "GRU", "RNNCell": "RNN"}.get(type(cell).__name__)
    if name is None:
        raise InputError(f"a {type(cell).__name__} decoder has no ONNX operator (ONNX knows "
                         f"LSTM, GRU and the Elman RNN)")
    return name


def _seq2seq_encoder_graph(g, model):
    """Source ids -> the attention memory (values, keys, padding) and the bridged decoder
    state: ``Seq2Seq.encode`` (rnnkit/seq2seq/model.py)."""
    elem, int64 = g.elem_type, g.onnx.TensorProto.INT64
    L, dirs, H_e = model.num_layers, 2 if model.bidirectional else 1, model.encoder_hidden_size
    inputs = [g.value("src", int64, ["S", "B"]), g.value("src_lengths", int64, ["B"])]
    x = g.op("Gather", [g.weight("src_embedding", model.src_embedding.weight.data), "src"],
             base="src_embedded", axis=0)
    enc, finals_h, finals_c = recurrent_nodes(g, model.encoder, x, lengths="src_lengths",
                                              prefix="encoder")
    outputs = []
    names = ["h0", "c0"][:len(model.encoder.state_names)]
    for name, finals in zip(names, [finals_h, finals_c]):
        if model.bridge.identity:                                          # (L, B, H) as it is
            _stacked(g, finals, name)
        else:                                                              # tanh(Linear([fwd; bwd]))
            bridge = getattr(model.bridge, name[0])
            layers = []
            for k, final in enumerate(finals):                             # (dirs, B, H_e)
                joined = _side_by_side(g, final, f"{name}_joined{k}")     # (B, dirs * H_e)
                bridged = g.op("Tanh", [_linear(g, bridge, joined, f"bridge_{name}{k}")],
                               base=f"{name}_bridged{k}")
                layers.append(g.op("Unsqueeze", [bridged, g.constant("axis0", np.array([0], np.int64))],
                                   base=f"{name}_l{k}"))
            _stacked(g, layers, name)
        outputs.append(g.value(name, elem, [L, "B", model.hidden_size]))
    if model.attention != "none":
        attention = model.decoder.attention
        g.op("Identity", [enc], ["values"])
        if attention.kind == "dot":
            g.op("Identity", [enc], ["keys"])
            key_size = dirs * H_e
        else:
            W = attention.score.W_k if attention.kind == "additive" else attention.score.W_a
            g.op("MatMul", [enc, g.weight("key_weight_T", W.data.T)], ["keys"])
            key_size = W.data.shape[0]
        valid = g.op("Squeeze", [_valid_steps(g, enc, "src_lengths"),
                                 g.constant("axis2_", np.array([2], np.int64))], base="valid_src")
        g.op("Not", [valid], ["padded"])
        outputs += [g.value("values", elem, ["S", "B", dirs * H_e]),
                    g.value("keys", elem, ["S", "B", key_size]),
                    g.value("padded", g.onnx.TensorProto.BOOL, ["S", "B"])]
    return inputs, outputs


def _seq2seq_decoder_graph(g, model):
    """One decoder step for ``B`` rows: ``Seq2Seq.decode_step`` (the stacked cells, the
    attention and Luong's attentional vector, the projection to the vocabulary)."""
    decoder = model.decoder
    elem, int64 = g.elem_type, g.onnx.TensorProto.INT64
    L, H = model.num_layers, model.hidden_size
    op_type = _cell_op_type(decoder.cells[0])
    names = ["h", "c"][:decoder.num_states]
    inputs = [g.value("tokens", int64, ["B"])]
    inputs += [g.value(name, elem, [L, "B", H]) for name in names]
    if model.input_feeding:
        inputs.append(g.value("feed", elem, [1, "B", H]))
    attention = model.attention != "none"
    if attention:
        score = decoder.attention.score
        key_size = (H if decoder.attention.kind == "dot" else
                    (score.W_k if decoder.attention.kind == "additive" else score.W_a).data.shape[0])
        inputs += [g.value("values", elem, ["S", "B", decoder.attention.key_size]),
                   g.value("keys", elem, ["S", "B", key_size]),
                   g.value("padded", g.onnx.TensorProto.BOOL, ["S", "B"])]
    x = g.op("Gather", [g.weight("tgt_embedding", decoder.embedding.weight.data), "tokens"],
             base="tgt_embedded", axis=0)                                 # (B, E)
    if model.input_feeding:
        feed = g.op("Squeeze", ["feed", g.constant("axis0", np.array([0], np.int64))], base="fed")
        x = g.op("Concat", [x, feed], base="x0", axis=1)                  # (B, E + H)
    new = {name: [] for name in names}
    zero_axis = g.constant("axis0_", np.array([0], np.int64))
    for k, cell in enumerate(decoder.cells):
        W, R, B = _onnx_weights(cell._params(), op_type, H)
        step_inputs = [g.op("Unsqueeze", [x, zero_axis], base=f"x{k}_t"),
                       g.weight(f"cell{k}_W", W[None]), g.weight(f"cell{k}_R", R[None]),
                       g.weight(f"cell{k}_B", B[None]), "",
                       _state_slice(g, "h", k, 1)]
        if op_type == "LSTM":
            step_inputs.append(_state_slice(g, "c", k, 1))
        outs = g.op(op_type, step_inputs, 3 if op_type == "LSTM" else 2, base=f"cell{k}",
                    hidden_size=H, **_cell_attributes(op_type, getattr(cell.kernel, "reset_after", True),
                                                      getattr(cell.kernel, "nonlinearity", "tanh")))
        new["h"].append(outs[1])                                         # (1, B, H)
        if op_type == "LSTM":
            new["c"].append(outs[2])
        x = g.op("Squeeze", [outs[1], zero_axis], base=f"h{k}_new")      # (B, H) to the next layer
    outputs = []
    if attention:
        query = x
        kind = decoder.attention.kind
        if kind == "additive":
            q = g.op("MatMul", [query, g.weight("W_q_T", score.W_q.data.T)], base="query")   # (B, A)
            u = g.op("Tanh", [g.op("Add", ["keys", q], base="keys_plus_query")], base="u")  # (S, B, A)
            scores = g.op("MatMul", [u, g.weight("v", score.v.data)], base="scores")        # (S, B)
        else:                                                            # h . keys_s
            scores = g.op("ReduceSum", [g.op("Mul", ["keys", query], base="h_keys"),
                                        g.constant("axis2", np.array([2], np.int64))],
                          base="scores", keepdims=0)
        scores = g.op("Where", ["padded", g.weight("minus_inf", np.array(-np.inf)), scores],
                      base="masked_scores")
        weights = g.op("Softmax", [scores], base="weights_sb", axis=0)   # (S, B)
        context = g.op("ReduceSum", [g.op("Mul", ["values", g.op(
            "Unsqueeze", [weights, g.constant("axis2_", np.array([2], np.int64))], base="w3")],
            base="weighted"), zero_axis], base="context", keepdims=0)    # (B, H_e)
        output = decoder.attention_output
        joined = g.op("Concat", [context, query], base="context_query", axis=1)
        pre = g.op("Add", [g.op("MatMul", [joined, g.weight("W_c_T", output.W_c.data.T)],
                                base="Wc"), g.weight("b_c", output.b_c.data)], base="pre")
        h_tilde = g.op("Tanh", [pre], base="h_tilde")
        g.op("Transpose", [weights], ["attention"], perm=[1, 0])          # (B, S)
        outputs.append(g.value("attention", elem, ["B", "S"]))
    else:
        h_tilde = x
    _linear(g, decoder.projection, h_tilde, "projection", "logits")
    outputs = [g.value("logits", elem, ["B", model.tgt_vocab_size])] + [
        g.value(f"{name}_n", elem, [L, "B", H]) for name in names] + outputs
    for name in names:
        _stacked(g, new[name], f"{name}_n")
    if model.input_feeding:
        g.op("Unsqueeze", [h_tilde, zero_axis], ["feed_n"])
        outputs.insert(1 + len(names), g.value("feed_n", elem, [1, "B", H]))
    return inputs, outputs


def seq2seq_paths(path):
    """Where a Seq2Seq's two graphs go: ``NAME-encoder.onnx`` and ``NAME-decoder.onnx`` for
    ``path`` ``NAME.onnx``."""
    base = os.fspath(path)
    base = base[:-5] if base.endswith(".onnx") else base
    return f"{base}-encoder.onnx", f"{base}-decoder.onnx"


def to_onnx(model, path, *, opset: int = DEFAULT_OPSET, initial_state: bool = False,
            lengths: bool = False, metadata: dict | None = None):
    """Write ``model`` as an ONNX graph to ``path`` (atomically); returns the ``onnx.ModelProto``.

    ``model``: an ``RNN``/``GRU``/``LSTM`` layer, a ``LanguageModel`` or a
    ``SequenceClassifier``/``SequenceRegressor`` (see the module doc for each graph's inputs
    and outputs). For a layer, ``initial_state=True`` adds the inputs ``h0`` (and ``c0``)
    and ``lengths=True`` the input ``lengths (B,)`` int64; the models always take what their
    ``forward`` takes. The graph runs in float32, in evaluation mode (no dropout).
    ``metadata`` (str -> str) goes into the model's ``metadata_props`` (ONNX Runtime:
    ``session.get_modelmeta().custom_metadata_map``), e.g. the vocabulary.
    """
    from rnnkit.layers.recurrent import RecurrentLayer
    from rnnkit.models import (
        AcousticModel, LanguageModel, PianoRollModel, SequenceClassifier, WordClassifier,
    )

    if not isinstance(opset, int) or not 15 <= opset <= _onnx().defs.onnx_opset_version():
        raise InputError(f"opset must be an int in [15, {_onnx().defs.onnx_opset_version()}], got {opset!r}")
    if isinstance(model, RecurrentLayer):
        g = _Graph()
        inputs, outputs = _layer_graph(g, model, initial_state, lengths)
    elif isinstance(model, LanguageModel):
        g = _Graph()
        inputs, outputs = _language_model_graph(g, model)
    elif isinstance(model, SequenceClassifier):                          # and the regressor
        g = _Graph()
        inputs, outputs = _classifier_graph(g, model)
    elif type(model).__name__ == "Seq2Seq":
        return _seq2seq_to_onnx(model, path, opset, metadata)
    elif isinstance(model, (WordClassifier, AcousticModel, PianoRollModel)) or (
            type(model).__name__ == "Forecaster"):
        g = _Graph()
        build = {"WordClassifier": _word_classifier_graph, "AcousticModel": _acoustic_graph,
                 "PianoRollModel": _piano_roll_graph, "Forecaster": _forecaster_graph}
        inputs, outputs = build[type(model).__name__](g, model)
    else:
        raise InputTypeError(f"cannot export a {type(model).__name__} to ONNX yet; exportable: "
                             f"{', '.join(EXPORTABLE)}")
    onnx_model = _finished(g, inputs, outputs, opset, f"rnnkit {type(model).__name__}: {model!r}",
                           metadata)
    _save(onnx_model, path)
    return onnx_model


def _finished(g, inputs, outputs, opset, doc, metadata):
    onnx_model = g.model(inputs, outputs, opset, doc)
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InputTypeError(f"metadata must map str to str, got {key!r}: {type(value).__name__}")
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    return onnx_model


def _seq2seq_to_onnx(model, path, opset, metadata):
    """Two graphs beside each other: ``NAME-encoder.onnx`` and ``NAME-decoder.onnx``."""
    models = []
    for part, build in (("encoder", _seq2seq_encoder_graph), ("decoder", _seq2seq_decoder_graph)):
        g = _Graph()
        inputs, outputs = build(g, model)
        models.append(_finished(g, inputs, outputs, opset,
                                f"rnnkit Seq2Seq {part}: {model!r}", metadata))
    for onnx_model, file in zip(models, seq2seq_paths(path)):
        _save(onnx_model, file)
    return tuple(models)


def _save(onnx_model, path) -> None:
    from rnnkit.checkpoint import atomic_write

    path = os.fspath(path)
    atomic_write(path, lambda f: f.write(onnx_model.SerializeToString()))
