"""The compiled fast path (rnnkit/kernels, the default) against the readable reference
step functions (``layer.fast_path = False``): same outputs, states and gradients, in
float64 to ~1e-12 and in float32 to rounding, over layers, directions, lengths and h0."""

import numpy as np
import pytest

import rnnkit
from rnnkit import kernels

if kernels.available():
    from rnnkit.kernels import _loop as fast_loop
    from rnnkit.kernels import _threads as fast_threads
    from rnnkit.kernels import _workers as fast_workers
    from rnnkit.kernels import lstm as fast_lstm

    FAST_MODULES = [fast_lstm]

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")

LAYERS = {
    "rnn_tanh": lambda **kw: rnnkit.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: rnnkit.RNN(nonlinearity="relu", **kw),
    "gru": lambda **kw: rnnkit.GRU(**kw),
    "lstm": lambda **kw: rnnkit.LSTM(**kw),
}

CONFIGS = [  # num_layers, bidirectional, batch_first, variable lengths, with h0, bias
    (1, False, False, False, False, True),
    (1, False, False, True, True, True),
    (2, True, False, False, True, True),
    (2, True, True, True, True, True),
    (3, True, False, True, False, True),
    (2, False, False, False, True, False),
]


def run(layer, fast, x, h0, lengths, d_out, d_h_n):
    """Forward and backward on one path; returns every array the user can see."""
    layer.fast_path = fast
    layer.zero_grad()
    out, h_n = layer.forward(x, h0, lengths)
    dx, dh0 = layer.backward(d_out, d_h_n)
    as_list = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    arrays = {"out": out, "dx": dx}
    arrays.update({f"h_n[{k}]": a for k, a in enumerate(as_list(h_n))})
    arrays.update({f"dh0[{k}]": a for k, a in enumerate(as_list(dh0))})
    arrays.update({name: p.grad.copy() for name, p in layer.named_parameters()})
    return arrays


def make_case(kind, config, dtype, T=7, B=4, D=3, H=5, seed=0):
    num_layers, bidirectional, batch_first, varlen, with_h0, bias = config
    rng = np.random.default_rng(seed)
    layer = LAYERS[kind](input_size=D, hidden_size=H, num_layers=num_layers, bias=bias,
                         bidirectional=bidirectional, batch_first=batch_first,
                         dtype=dtype, seed=seed + 1)
    dirs = 2 if bidirectional else 1
    n_states = 2 if kind == "lstm" else 1
    shape = (num_layers * dirs, B, H)
    pack = (lambda parts: tuple(parts)) if n_states == 2 else (lambda parts: parts[0])
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(dtype)
    h0 = pack([rng.standard_normal(shape).astype(dtype) for _ in range(n_states)]) if with_h0 else None
    lengths = rng.integers(1, T + 1, size=B) if varlen else None
    if varlen:
        lengths[0] = T
    out_shape = (B, T, dirs * H) if batch_first else (T, B, dirs * H)
    d_out = rng.standard_normal(out_shape).astype(dtype)
    d_h_n = pack([rng.standard_normal(shape).astype(dtype) for _ in range(n_states)])
    return layer, (x, h0, lengths, d_out, d_h_n)


def max_relative_difference(a, b):
    return max(np.abs(a[k] - b[k]).max() / (np.abs(b[k]).max() + 1e-30) for k in b)


@pytest.fixture(params=["packed_loop", "packed_two_workers", "compiled_loop", "blas_loop"])
def loop(request, monkeypatch):
    """Small float32 LSTM and GRU batches run the whole loop compiled around the packed
    product, on one core or with the hidden units split between workers; tiny LSTM steps
    (and small batches over cache-resident weights) run it compiled with plain loops;
    larger ones call BLAS per step. All are tested on small shapes by moving the
    thresholds (two workers: shares of 4 units, so H = 5 splits 4 + 1)."""
    monkeypatch.setattr(fast_threads, "_threads", 1)
    if request.param.startswith("packed"):
        monkeypatch.setattr(fast_loop, "PACK_FROM_ROWS", 0)
        if request.param == "packed_two_workers":
            monkeypatch.setattr(fast_workers, "WORKER_STEP_FLOPS", 0)
            monkeypatch.setattr(fast_threads, "_threads", 2)
            monkeypatch.setattr(fast_workers, "SHARE_MULTIPLE", 4)
    else:
        monkeypatch.setattr(fast_loop, "PACKED_BATCH", 0)
    if request.param == "blas_loop":
        for module in FAST_MODULES:
            monkeypatch.setattr(module, "SMALL_STEP", 0)
            monkeypatch.setattr(module, "SMALL_BATCH", 0)
    return request.param


def test_which_lstm_loop_runs(monkeypatch):
    from rnnkit.kernels.lstm import runs_compiled, which_loop

    monkeypatch.setattr(fast_threads, "_threads", 1)

    assert runs_compiled(T=1000, B=1, H=32)                     # tiny steps
    assert runs_compiled(T=200, B=2, H=128) and runs_compiled(T=50, B=3, H=512)
    assert not runs_compiled(T=1, B=1, H=512)                   # one-token generation: BLAS
    assert not runs_compiled(T=100, B=4, H=256)                 # batch of 4: BLAS
    assert not runs_compiled(T=100, B=1, H=1024)                # W_hh out of cache: BLAS
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert which_loop(1000, 1, 32, f32) == "small"              # tiny steps, either dtype
    assert which_loop(100, 4, 256, f32) == "packed"             # float32 small batches
    assert which_loop(50, 32, 128, f32) == "packed"
    assert which_loop(50, 32, 512, f32) == "blas"               # 67 MFLOP a step: BLAS's threads
    assert which_loop(50, 3, 512, f64) == "small"               # float64 keeps the old rules
    assert which_loop(100, 4, 256, f64) == "blas"
    assert which_loop(50, 33, 512, f32) == "blas"               # past PACKED_BATCH
    assert which_loop(1, 1, 512, f32) == "blas"                 # one token: packing would not pay
    monkeypatch.setattr(fast_threads, "_threads", 2)            # two cores
    assert which_loop(50, 32, 512, f32) == "packed"             # split between them
    assert which_loop(50, 64, 1024, f32) == "packed"
    assert which_loop(50, 65, 512, f32) == "blas"               # past PACKED_BATCH_WORKERS
    assert which_loop(50, 8, 2048, f32) == "blas"               # W_hh of 64 MB
    assert which_loop(50, 3, 512, f64) == "small"               # float64: as on one core
    assert which_loop(1, 1, 512, f32) == "blas"
    assert fast_workers.count(B=32, H=512, gates=4) == 2
    assert fast_workers.count(B=2, H=256, gates=4) == 1         # a 1 MFLOP step: one core


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-bf{}-var{}-h0{}-bias{}".format(*map(int, c)))
def test_fast_path_matches_reference_float64(kind, config, loop):
    layer, args = make_case(kind, config, np.float64)
    reference = run(layer, False, *args)
    fast = run(layer, True, *args)
    assert reference.keys() == fast.keys()
    worst = {k: np.abs(fast[k] - reference[k]).max() for k in reference}
    assert max(worst.values()) < 1e-12, worst


@pytest.mark.parametrize("copy_weights", [True, False], ids=["W_hh^T copied", "W_hh^T a view"])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_fast_path_matches_reference_float32(kind, loop, copy_weights, monkeypatch):
    from rnnkit.kernels import _loop

    monkeypatch.setattr(_loop, "COPY_FROM_ROWS", 0 if copy_weights else 10**9)
    layer, args = make_case(kind, (2, True, False, True, True, True), np.float32, T=12, B=3, H=16)
    reference = run(layer, False, *args)
    fast = run(layer, True, *args)
    for k in reference:
        assert fast[k].dtype == np.float32, k
    assert max_relative_difference(fast, reference) < 1e-5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_one_hidden_unit_matches_reference_and_leaves_h0_alone(kind, dtype, loop):
    """At H = 1 a transposed (B, 1) state is itself contiguous: the loops must copy it."""
    layer, args = make_case(kind, CONFIGS[3], dtype, T=6, B=5, H=1)
    h0 = args[1]
    before = [a.copy() for a in (h0 if isinstance(h0, tuple) else (h0,))]
    reference = run(layer, False, *args)
    fast = run(layer, True, *args)
    for a, b in zip(before, h0 if isinstance(h0, tuple) else (h0,)):
        np.testing.assert_array_equal(a, b)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert max_relative_difference(fast, reference) < tolerance


@pytest.mark.parametrize("kind", list(LAYERS))
def test_fast_path_is_taken(kind, monkeypatch):
    """Guards the comparisons above: the default path really is the compiled one."""
    layer, (x, h0, lengths, d_out, d_h_n) = make_case(kind, CONFIGS[0], np.float64)
    calls = []
    forward = type(layer.kernel).fast_forward_sequence
    monkeypatch.setattr(type(layer.kernel), "fast_forward_sequence",
                        lambda self, *a: calls.append(1) or forward(self, *a))
    layer.forward(x, h0, lengths)
    assert calls == [1]
    assert rnnkit.LSTM.fast_path is True


@pytest.mark.parametrize("kind", list(LAYERS))
def test_inference_matches_training_forward(kind, loop):
    """Under no_grad the fast path keeps no per-step workspaces; the results are the same."""
    layer, (x, h0, lengths, _, _) = make_case(kind, CONFIGS[3], np.float64)
    out, h_n = layer.forward(x, h0, lengths)
    with rnnkit.no_grad():
        out_ng, h_n_ng = layer.forward(x, h0, lengths)
    np.testing.assert_array_equal(out, out_ng)
    for a, b in zip(h_n if isinstance(h_n, tuple) else (h_n,),
                    h_n_ng if isinstance(h_n_ng, tuple) else (h_n_ng,)):
        np.testing.assert_array_equal(a, b)


def test_output_is_not_a_view_of_the_cache():
    """Writing into ``out`` after forward must not change the gradients."""
    layer, (x, h0, lengths, d_out, d_h_n) = make_case("lstm", CONFIGS[0], np.float64)
    clean = run(layer, True, x, h0, lengths, d_out, d_h_n)
    layer.zero_grad()
    out, _ = layer.forward(x, h0, lengths)
    out[...] = 123.0
    layer.backward(d_out, d_h_n)
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(p.grad, clean[name])


@pytest.mark.parametrize("kind,shared", [("lstm", True), ("rnn_tanh", True), ("gru", False)])
@pytest.mark.parametrize("fast", [True, False])
def test_bias_ih_gradient_is_bias_hh_summed_once_where_the_gate_grads_are_shared(
        kind, shared, fast, monkeypatch):
    """LSTM and Elman RNN: DGI is DGH, so the layer passes bias_hh's summed gradient on
    as bias_ih's (one row sum a direction, not two); the GRU's differ and get two."""
    from rnnkit.cells import kernel as kernel_module
    sums = []
    row_sum = kernel_module.row_sum
    monkeypatch.setattr(kernel_module, "row_sum", lambda A: (sums.append(A.shape), row_sum(A))[1])
    layer = LAYERS[kind](input_size=5, hidden_size=6, bidirectional=True, seed=0, dtype=np.float64)
    layer.fast_path = fast
    x = np.random.default_rng(0).standard_normal((7, 3, 5))
    out, _ = layer.forward(x)
    layer.backward(np.ones_like(out))
    params = dict(layer.named_parameters())
    same = [np.array_equal(params[f"bias_ih_l0{s}"].grad, params[f"bias_hh_l0{s}"].grad)
            for s in ("", "_reverse")]
    assert same == [shared, shared]
    if fast:
        assert len(sums) == (2 if shared else 4)                # a row sum a direction, or two
