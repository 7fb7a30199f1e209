"""Seq2Seq (rnnkit/seq2seq/model.py): finite-difference checks of the whole model in float64,
the torch.nn twin of rnnkit/seq2seq/interop.py (logits, loss and every gradient), decode_step
against teacher forcing, a tiny Trainer run, checkpoints through load_model, bad input."""

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, model_loss_gradient_errors

import rnnkit
from rnnkit.decoding import greedy_search, select_rows
from rnnkit.seq2seq import Seq2Seq, shift_right
from rnnkit.seq2seq.interop import from_torch, to_torch, torch_name
from rnnkit.training import Batch, Seq2SeqBatches, Trainer, load_model

F64 = np.float64
PAD, BOS, EOS = 0, 1, 2
V_SRC, V_TGT = 7, 8
CELLS = ["gru", "lstm"]
ATTENTIONS = ["additive", "dot", "general", "none"]


def _batch(seed=0, src_lengths=(4, 2, 3), target_lengths=(3, 4, 1)):
    """Source (S, B) padded with PAD; targets (T, B) ending in EOS, -1 past each length."""
    rng = np.random.default_rng(seed)
    src_lengths, target_lengths = np.array(src_lengths), np.array(target_lengths)
    S, T, B = src_lengths.max(), target_lengths.max(), len(src_lengths)
    src = rng.integers(3, V_SRC, (S, B))
    src[np.arange(S)[:, None] >= src_lengths] = PAD
    targets = rng.integers(3, V_TGT, (T, B))
    targets[target_lengths - 1, np.arange(B)] = EOS
    targets[np.arange(T)[:, None] >= target_lengths] = -1
    return Batch(src, targets, src_lengths, int(src_lengths.sum()), target_lengths)


def _model(cell="gru", attention="general", input_feeding=True, bidirectional=True, num_layers=2,
           hidden_size=2, dtype=F64, seed=0, **kwargs):
    # a bidirectional encoder of width 1 per direction gives outputs as wide as the decoder (dot)
    encoder_hidden_size = hidden_size // 2 if bidirectional else hidden_size
    return Seq2Seq(V_SRC, V_TGT, embed_size=2, hidden_size=hidden_size, num_layers=num_layers,
                   cell=cell, bidirectional=bidirectional, encoder_hidden_size=encoder_hidden_size,
                   attention=attention, attention_size=3, input_feeding=input_feeding,
                   pad_id=PAD, bos_id=BOS, eos_id=EOS, dtype=dtype, seed=seed, **kwargs)


def _check_gradients(model, batch, before_forward=lambda: None, eps=1e-4):
    """Every parameter's gradient of model.loss(batch) against central differences.

    The attention scores' parameters are scaled up first: at initialisation the scores
    hardly differ across source positions, and since the softmax's gradient sums to zero
    over them, the gradient of W_q (a term all positions share) is then ~1e-6, too close
    to the finite differences' rounding noise (~1e-11 with eps=1e-4) to be checked.
    """
    for name, p in model.named_parameters():
        p.data *= 3.0 if ".score." in name else 1.0

    errors, _ = model_loss_gradient_errors(model, batch, eps, before_forward)
    assert max(errors.values()) < GRAD_TOL, errors
    return errors


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_bidirectional_two_layers_variable_lengths(cell, attention, input_feeding):
    model = _model(cell, attention, input_feeding, label_smoothing=0.1)
    errors = _check_gradients(model, _batch())
    assert ("bridge.h.weight" in errors) and (("bridge.c.weight" in errors) == (cell == "lstm"))


@pytest.mark.parametrize("cell,attention", [("lstm", "dot"), ("rnn", "additive")])
def test_gradients_unidirectional_identity_bridge(cell, attention):
    model = _model(cell, attention, bidirectional=False, num_layers=1, seed=4)
    assert model.bridge.identity and not any(n.startswith("bridge") for n, _ in model.named_parameters())
    _check_gradients(model, _batch(seed=1, src_lengths=(1, 3, 2), target_lengths=(2, 1, 3)))


def test_gradients_with_dropout_in_training_mode():
    model = _model("lstm", "additive", dropout=0.3, seed=2)
    rngs = [(model.encoder, "dropout_rng"), (model.decoder, "dropout_rng"),
            (model.decoder.output_dropout, "rng")]

    def same_masks():
        for owner, name in rngs:
            setattr(owner, name, np.random.default_rng(7))

    _check_gradients(model, _batch(seed=3), same_masks)
    same_masks()
    with rnnkit.no_grad():
        dropped = model.loss(_batch(seed=3))
        assert dropped != model.eval().loss(_batch(seed=3))              # dropout is on in training


# ------------------------------------------------------------------ the torch twin


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch_modules(cell, attention):
    pytest.importorskip("torch")
    model = _model(cell, attention, input_feeding=attention != "dot", hidden_size=4,
                   label_smoothing=0.2, seed=5)
    batch = _batch(seed=6, src_lengths=(4, 2, 5, 1), target_lengths=(3, 4, 1, 2))
    twin = to_torch(model)
    model.zero_grad()
    loss = model.loss_and_backward(batch)
    tgt_in, _ = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    with rnnkit.no_grad():
        logits = model.forward(batch.inputs, batch.lengths, tgt_in)
    ref_logits = twin(batch.inputs, batch.lengths, tgt_in)
    ref_loss = twin.loss(batch)
    ref_loss.backward()
    np.testing.assert_allclose(logits, ref_logits.detach().numpy(), rtol=0, atol=TORCH_TOL)
    assert abs(loss - ref_loss.item()) < TORCH_TOL
    torch_params = dict(twin.named_parameters())
    worst = 0.0
    for name, p in model.named_parameters():
        ref = torch_params[torch_name(name)].grad.numpy().reshape(p.shape)
        np.testing.assert_allclose(p.grad, ref, rtol=0, atol=TORCH_TOL, err_msg=name)
        worst = max(worst, float(np.abs(p.grad - ref).max()))
    assert worst > 0 or np.all(model.decoder.projection.weight.grad != 0)   # gradients did flow
    back = from_torch(twin)                                                 # and the weights return
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_torch_twin_valid_only_loss_is_the_same():
    torch = pytest.importorskip("torch")
    model = _model("lstm", "general", hidden_size=4, seed=5)
    batch = _batch(seed=6, src_lengths=(4, 2, 5, 1), target_lengths=(3, 4, 1, 2))
    grads = []
    for valid_only in (False, True):
        twin = to_torch(model)
        loss = twin.loss(batch, valid_only=valid_only)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in twin.parameters()]))
    assert abs(grads[0][0] - grads[1][0]) < TORCH_TOL
    for a, b in zip(grads[0][1], grads[1][1]):
        assert torch.allclose(a, b, rtol=0, atol=TORCH_TOL)


# ------------------------------------------------------------------ the fast paths


def _loss_and_gradients(model, batch, dropout_seed=None):
    if dropout_seed is not None:                         # the same dropout masks on each run
        model.decoder.dropout_rng = np.random.default_rng(dropout_seed)
        model.decoder.output_dropout.rng = np.random.default_rng(dropout_seed + 1)
        model.encoder.dropout_rng = np.random.default_rng(dropout_seed + 2)
    model.zero_grad()
    loss = model.loss_and_backward(batch)
    return loss, {name: p.grad.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("cell,attention,input_feeding,num_layers", [
    ("lstm", "general", True, 2), ("gru", "additive", True, 3), ("rnn", "dot", False, 2),
    ("lstm", "none", True, 1), ("gru", "none", False, 2)])
def test_hoisted_decoder_loop_equals_the_reference_loop(cell, attention, input_feeding, num_layers):
    """decoder.fast_path (input projections' GEMMs out of the step loop) against the cells'
    own per-step forward and backward: logits, loss and every gradient, with dropout."""
    model = _model(cell, attention, input_feeding, num_layers=num_layers, hidden_size=4,
                   dropout=0.25, label_smoothing=0.1, seed=12)
    batch = _batch(seed=13, src_lengths=(4, 2, 5, 1), target_lengths=(3, 5, 1, 2))
    tgt_in, _ = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    results = {}
    for fast in (True, False):
        model.decoder.fast_path = fast
        assert model.decoder._hoists() == fast
        with rnnkit.no_grad():
            logits = model.eval().forward(batch.inputs, batch.lengths, tgt_in)
        results[fast] = (logits,) + _loss_and_gradients(model.train(), batch, dropout_seed=3)
    (logits, loss, grads), (ref_logits, ref_loss, ref_grads) = results[True], results[False]
    np.testing.assert_allclose(logits, ref_logits, rtol=0, atol=1e-13)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, ref_grads[name], rtol=0, atol=1e-12, err_msg=name)
    steps = [m for m in model.modules() if hasattr(m, "_caches")]
    assert not any(m._caches for m in steps)                           # nothing left behind


def test_cells_without_a_linear_input_projection_run_the_reference_loop():
    model = _model("lnlstm", "general", hidden_size=8, seed=14)
    assert model.decoder.fast_path and not model.decoder._hoists()
    # layer norm over 4 units per direction curves sharply: a smaller step keeps the
    # central differences' truncation error (~eps^2) below the tolerance
    _check_gradients(model, _batch(seed=15), eps=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_loss_reads_logits_only_at_valid_targets(label_smoothing):
    """loss() projects only the N valid positions: the same loss and gradients as every
    position's logits (forward) with the padded ones masked out of the criterion."""
    model = _model("lstm", "additive", label_smoothing=label_smoothing, seed=16)
    batch = _batch(seed=17, src_lengths=(4, 2, 3), target_lengths=(1, 4, 2))
    loss, grads = _loss_and_gradients(model, batch)
    tgt_in, valid = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    model.zero_grad()
    logits = model.forward(batch.inputs, batch.lengths, tgt_in)               # (T, B, V)
    assert loss == pytest.approx(model.criterion.forward(logits, batch.targets, valid), rel=1e-14)
    dlogits = model.criterion.backward()
    assert np.all(dlogits[~valid] == 0)
    model.backward(dlogits)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad, rtol=0, atol=1e-15, err_msg=name)
    model.loss(batch)                                                         # logits (N=7, V)
    with pytest.raises(ValueError, match=r"dlogits must have shape \(N=7 valid targets, tgt_vocab_size=8\)"):
        model.backward(dlogits)


# ------------------------------------------------------------------ decoding API


@pytest.mark.parametrize("cell,attention,input_feeding", [
    ("lstm", "additive", True), ("gru", "general", False), ("gru", "none", True), ("lstm", "dot", True)])
def test_decode_step_agrees_with_teacher_forcing_and_expands_to_beams(cell, attention, input_feeding):
    model = _model(cell, attention, input_feeding, hidden_size=4, dropout=0.5, seed=8).eval()
    batch = _batch(seed=9)
    tgt_in, _ = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    with rnnkit.no_grad():
        logits = model.forward(batch.inputs, batch.lengths, tgt_in)              # (T, B, V)
    memory = model.encode(batch.inputs, batch.lengths)
    state = model.initial_state(memory)
    assert all(part.shape[1] == 3 for part in state)
    rows = np.array([0, 0, 1, 1, 2, 2])                                          # K = 2 beams each
    wide_memory, wide_state = select_rows(memory, rows), select_rows(state, rows)
    padded = np.arange(4)[None, :] >= batch.lengths[:, None]                     # (B, S)
    for t in range(len(tgt_in)):
        step_logits, state, weights = model.decode_step(tgt_in[t], state, memory)
        np.testing.assert_allclose(step_logits, logits[t], rtol=0, atol=1e-13)
        wide_logits, wide_state, wide_weights = model.decode_step(tgt_in[t][rows], wide_state, wide_memory)
        np.testing.assert_allclose(wide_logits, logits[t][rows], rtol=0, atol=1e-13)
        if attention == "none":
            assert weights is None
        else:
            assert weights.shape == (3, 4) and np.all(weights[padded] == 0)
            np.testing.assert_allclose(weights.sum(1), 1, atol=1e-14)
            np.testing.assert_allclose(wide_weights, weights[rows], atol=1e-14)
    assert not model.decoder.cells[0]._caches and model.decoder.embedding._ids is None   # no caches


def _reverse_task(n=48, seed=0):
    """Sources of 2-4 symbols in [3, 7); targets: the source reversed, then EOS."""
    rng = np.random.default_rng(seed)
    sources = [rng.integers(3, 7, rng.integers(2, 5)) for _ in range(n)]
    return sources, [np.append(s[::-1], EOS) for s in sources]


def test_trainer_learns_to_reverse_and_checkpoint_rebuilds_the_model(tmp_path):
    from rnnkit.optim import Adam

    sources, targets = _reverse_task()
    train = Seq2SeqBatches(sources, targets, batch_size=16, seed=0, target_pad_value=-1)
    model = Seq2Seq(7, 7, embed_size=8, hidden_size=16, cell="gru", attention="general",
                    dtype=F64, seed=0)
    trainer = Trainer(model, Adam(model.parameters(), lr=0.03), train, train, max_steps=90,
                      eval_every=45, clip_grad_norm=5.0, out_dir=tmp_path, progress=False)
    first = trainer.evaluate()["loss"]
    summary = trainer.fit()
    assert first > 1.5 and summary["best_val_loss"] < 0.1 * first, (first, summary["best_val_loss"])

    loaded, meta = load_model(summary["checkpoint"], which="last")
    assert type(loaded) is Seq2Seq and meta["model"]["config"] == model.config()
    batch = train.batch(0, 0)
    tgt_in, _ = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    with rnnkit.no_grad():
        np.testing.assert_array_equal(loaded.forward(batch.inputs, batch.lengths, tgt_in),
                                      model.eval().forward(batch.inputs, batch.lengths, tgt_in))
    # greedy decoding through rnnkit.decoding, the memory carried beside the state
    memory = loaded.encode(batch.inputs, batch.lengths)

    def step(tokens, carried):
        logits, new_state, _ = loaded.decode_step(tokens, carried[0], carried[1])
        return logits, (new_state, carried[1])

    decoded = greedy_search(step, np.full(batch.inputs.shape[1], BOS), (loaded.initial_state(memory), memory),
                            max_len=6, end_token=EOS)
    wanted = [list(batch.targets[:n, b]) for b, n in enumerate(batch.target_lengths)]
    got = [list(decoded.tokens[b, :n]) for b, n in enumerate(decoded.lengths)]
    assert np.mean([g == w for g, w in zip(got, wanted)]) >= 0.9, (got, wanted)


def test_load_model_finds_seq2seq_in_a_fresh_process(tmp_path):
    from rnnkit.optim import SGD

    sources, targets = _reverse_task(4)
    model = _model("lstm", "additive", seed=3)
    data = Seq2SeqBatches(sources, targets, batch_size=2)
    path = Trainer(model, SGD(model.parameters(), lr=0.1), data, max_steps=1).save_checkpoint(
        tmp_path / "s2s.npz")
    code = ("import sys\nfrom rnnkit.training import load_model\n"
            "model, _ = load_model(sys.argv[1])\n"
            "print(type(model).__module__, repr(sum(float(abs(v).sum()) for v in model.state_dict().values())))\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    weights = sum(float(np.abs(v).sum()) for v in model.state_dict().values())
    assert result.stdout.split() == ["rnnkit.seq2seq.model", repr(weights)]


def test_backward_undoes_the_latest_forward():
    model, batch = _model("lstm", "additive"), _batch()
    tgt_in, _ = shift_right(batch.targets, batch.target_lengths, BOS, PAD)
    dlogits = np.random.default_rng(0).standard_normal(tgt_in.shape + (V_TGT,))
    model.forward(batch.inputs, batch.lengths, tgt_in)
    model.backward(dlogits)
    once = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    other = _batch(seed=5, src_lengths=(2, 1, 1), target_lengths=(2, 2, 2))
    model.forward(other.inputs, other.lengths, np.ones((2, 3), int))          # never backpropagated
    model.forward(batch.inputs, batch.lengths, tgt_in)
    model.backward(dlogits)
    for (name, p), g in zip(model.named_parameters(), once):
        np.testing.assert_array_equal(p.grad, g, err_msg=name)
    steps = [m for m in model.modules() if hasattr(m, "_caches")]
    assert len(steps) == 5 and not any(m._caches for m in steps)         # 2 cells, attention, score, output


def test_config_is_json_and_rebuilds_the_same_model():
    model = _model("lstm", "additive", False, dropout=0.1, label_smoothing=0.05, seed=11)
    config = json.loads(json.dumps(model.config()))
    assert list(config) == list(inspect.signature(Seq2Seq).parameters)      # every argument
    twin = Seq2Seq(**config)
    assert twin.config() == model.config()
    for (name, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.array_equal(Seq2Seq(**{**config, "seed": 12}).state_dict()["decoder.projection.weight"],
                              model.state_dict()["decoder.projection.weight"])


def test_float32_model_keeps_its_dtype():
    model = _model("gru", "additive", dtype=np.float32, hidden_size=4)
    value = model.loss_and_backward(_batch())
    assert np.isfinite(value) and all(p.grad.dtype == np.float32 for p in model.parameters())
    memory = model.encode(_batch().inputs, _batch().lengths)
    logits, state, weights = model.decode_step(np.full(3, BOS), model.initial_state(memory), memory)
    assert logits.dtype == weights.dtype == np.float32 and all(s.dtype == np.float32 for s in state)


def test_shift_right_feeds_bos_then_the_targets():
    targets = np.array([[5, 6], [2, 7], [-1, 2]])
    tgt_in, valid = shift_right(targets, np.array([2, 3]), BOS, PAD)
    np.testing.assert_array_equal(tgt_in, [[1, 1], [5, 6], [2, 7]])
    np.testing.assert_array_equal(valid, [[True, True], [True, True], [False, True]])
    tgt_in, _ = shift_right(targets, np.array([1, 3]), BOS, PAD)
    assert tgt_in[2, 0] == PAD                                        # past the length: never -1


# ------------------------------------------------------------------ bad input


def test_bad_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"attention must be one of \['additive', 'dot', 'general', 'none'\]"):
        Seq2Seq(5, 5, attention="concat")
    with pytest.raises(ValueError, match="attention='dot' needs encoder outputs as wide as hidden_size=4"):
        Seq2Seq(5, 5, hidden_size=4, bidirectional=True, attention="dot")
    with pytest.raises(ValueError, match=r"bos_id must be an integer in \[0, 4\] \(an id of both vocabularies\)"):
        Seq2Seq(5, 9, bos_id=5)
    with pytest.raises(ValueError, match="cell must be one of"):
        Seq2Seq(5, 5, cell="transformer")
    model = _model()
    batch = _batch()
    with pytest.raises(TypeError, match="src must be an integer array"):
        model.forward(batch.inputs.astype(float), batch.lengths, batch.inputs)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=4\]"):
        model.forward(batch.inputs, np.array([5, 1, 1]), batch.inputs)
    with pytest.raises(ValueError, match=r"tgt_in must have shape \(T, B=3\)"):
        model.forward(batch.inputs, batch.lengths, batch.inputs[:, :2])
    with pytest.raises(ValueError, match=r"tgt_in entries must lie in \[0, 8\)"):
        model.forward(batch.inputs, batch.lengths, np.full((2, 3), 8))
    with pytest.raises(ValueError, match="Seq2Seq.backward called before forward"):
        model.backward(np.zeros((2, 3, V_TGT)))
    model.forward(batch.inputs, batch.lengths, np.ones((2, 3), int))
    with pytest.raises(ValueError, match=r"dlogits must have shape \(T, B=3, tgt_vocab_size=8\)"):
        model.backward(np.zeros((2, 3, V_TGT + 1)))
    memory = model.encode(batch.inputs, batch.lengths)
    state = model.initial_state(memory)
    with pytest.raises(ValueError, match="memory has 3 rows but tokens has 2; expand it"):
        model.decode_step(np.ones(2, int), select_rows(state, [0, 1]), memory)
    with pytest.raises(TypeError, match="state must be a tuple of 2 arrays"):
        model.decode_step(np.ones(3, int), state[:1], memory)
    with pytest.raises(TypeError, match="memory must be what Seq2Seq.encode returns"):
        model.decode_step(np.ones(3, int), state, tuple(memory))
