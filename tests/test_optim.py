"""Optimizers, clipping and schedules against torch.optim, plus checkpoint resume.

Each optimizer test feeds the same 20 seeded float64 gradients to rnnkit and to
torch (single-tensor path, ``foreach=False``) and compares the parameters.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit import kernels
from rnnkit.module import Parameter
from rnnkit.optim import (
    SGD, Adam, AdamW, Constant, RMSprop, Scheduler, StepDecay, WarmupCosine,
    clip_grad_norm, clip_grad_value,
)

ADAM_SPLIT_SIZE = 1 << 16    # rnnkit.kernels.adam.SPLIT_SIZE (that module imports numba)
OPTIM_TOL = 1e-12      # max |rnnkit - torch| on parameters after 20 steps, float64
SHAPES = [(4, 3), (5,), (2, 3, 2)]
NUM_STEPS = 20

RNNKIT = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.002, alpha=0.95, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.002, momentum=0.9)),
    ("RMSprop", dict(lr=0.002, centered=True)),
    ("RMSprop", dict(lr=0.002, centered=True, momentum=0.5, weight_decay=0.1)),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for name, kw in CASES]


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]


def make_gradients(seed=1, num_steps=NUM_STEPS):
    """num_steps lists of gradients; the scale varies so amsgrad's max matters."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape) * rng.uniform(0.1, 3.0) for shape in SHAPES]
            for _ in range(num_steps)]


def run_rnnkit(optimizer, params, gradients):
    for grads in gradients:
        for p, g in zip(params, grads):
            p.grad[...] = g
        optimizer.step()


def run_torch(name, kwargs, params, gradients):
    tensors = [torch.tensor(p.data, requires_grad=True) for p in params]
    optimizer = getattr(torch.optim, name)(tensors, foreach=False, **kwargs)
    for grads in gradients:
        for t, g in zip(tensors, grads):
            t.grad = torch.from_numpy(g.copy())
        optimizer.step()
    return [t.detach().numpy() for t in tensors]


# -- equivalence with torch.optim -------------------------------------------------
@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_matches_torch(name, kwargs):
    params = make_params()
    expected = run_torch(name, kwargs, params, make_gradients())
    run_rnnkit(RNNKIT[name]([*params], **kwargs), params, make_gradients())
    for p, want in zip(params, expected):
        assert p.data.dtype == np.float64
        np.testing.assert_allclose(p.data, want, rtol=0, atol=OPTIM_TOL)


def test_lr_change_between_steps_matches_torch():
    params = make_params()
    gradients = make_gradients()
    tensors = [torch.tensor(p.data, requires_grad=True) for p in params]
    torch_opt = torch.optim.Adam(tensors, lr=0.01, foreach=False)
    opt = Adam(params, lr=0.01)
    for step, grads in enumerate(gradients):
        lr = 0.01 / (1 + step)
        opt.lr = lr
        torch_opt.param_groups[0]["lr"] = lr
        for p, t, g in zip(params, tensors, grads):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        torch_opt.step()
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=0, atol=OPTIM_TOL)


def test_float32_parameters_stay_float32():
    params = make_params(dtype=np.float32)
    for p in params:
        p.grad[...] = 1
    for cls in (SGD, Adam, AdamW, RMSprop):
        cls(params, lr=0.1).step()
    assert all(p.data.dtype == np.float32 for p in params)


def test_step_reads_grad_and_zero_grad_clears_it():
    params = make_params()
    for p in params:
        p.grad[...] = 2.0
    before = [p.data.copy() for p in params]
    opt = SGD(params, lr=0.5)
    opt.step()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b - 1.0)
        np.testing.assert_array_equal(p.grad, 2.0)  # step leaves grad alone
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)


# -- checkpoint resume ------------------------------------------------------------
def roundtrip_json_npz(state, tmp_path):
    """What a checkpoint writer does: meta through JSON, arrays through .npz."""
    np.savez(tmp_path / "optim.npz", **state["arrays"])
    with np.load(tmp_path / "optim.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return {"meta": json.loads(json.dumps(state["meta"])), "arrays": arrays}


@pytest.mark.parametrize("name, kwargs", CASES, ids=CASE_IDS)
def test_state_dict_resume_is_bit_exact(name, kwargs, tmp_path):
    gradients = make_gradients()
    straight = make_params()
    run_rnnkit(RNNKIT[name](straight, **kwargs), straight, gradients)

    resumed = make_params()
    first = RNNKIT[name](resumed, **kwargs)
    run_rnnkit(first, resumed, gradients[:10])
    state = roundtrip_json_npz(first.state_dict(), tmp_path)
    # A fresh optimizer built with default arguments takes all settings from the state.
    second = RNNKIT[name](resumed, **({"lr": 123.0} if name == "SGD" else {}))
    second.load_state_dict(state)
    assert second.hyperparameters() == first.hyperparameters()
    run_rnnkit(second, resumed, gradients[10:])
    for a, b in zip(straight, resumed):
        assert np.array_equal(a.data, b.data)


def test_state_dict_is_a_copy():
    params = make_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    run_rnnkit(opt, params, make_gradients(num_steps=2))
    state = opt.state_dict()
    saved = state["arrays"]["0.momentum_buffer"].copy()
    run_rnnkit(opt, params, make_gradients(num_steps=2))
    np.testing.assert_array_equal(state["arrays"]["0.momentum_buffer"], saved)
    assert state["meta"]["step_count"] == 2


def test_load_state_dict_rejects_mismatches():
    params = make_params()
    opt = Adam(params, amsgrad=True)
    run_rnnkit(opt, params, make_gradients(num_steps=1))
    good = opt.state_dict()

    def broken(**changes):
        meta, arrays = dict(good["meta"]), dict(good["arrays"])
        for key, value in changes.items():
            if key in meta:
                meta[key] = value
            elif value is None:
                del arrays[key]
            else:
                arrays[key] = value
        return {"meta": meta, "arrays": arrays}

    with pytest.raises(ValueError, match="missing.*2.max_exp_avg_sq"):
        opt.load_state_dict(broken(**{"2.max_exp_avg_sq": None}))
    with pytest.raises(ValueError, match="unexpected.*3.exp_avg"):
        opt.load_state_dict(broken(**{"3.exp_avg": np.zeros(2)}))
    with pytest.raises(ValueError, match=r"'1.exp_avg_sq'.*shape \(4,\)"):
        opt.load_state_dict(broken(**{"1.exp_avg_sq": np.zeros(4)}))
    with pytest.raises(ValueError, match="dtype float32"):
        opt.load_state_dict(broken(**{"0.exp_avg": np.zeros((4, 3), np.float32)}))
    with pytest.raises(ValueError, match="num_params"):
        opt.load_state_dict(broken(num_params=2))
    with pytest.raises(ValueError, match="type.*'SGD'"):
        opt.load_state_dict(broken(type="SGD"))
    with pytest.raises(ValueError, match="step_count"):
        opt.load_state_dict(broken(step_count=-1))
    with pytest.raises(ValueError, match="betas"):
        opt.load_state_dict(broken(hyperparameters={**good["meta"]["hyperparameters"],
                                                    "betas": [0.9, 1.5]}))
    with pytest.raises(ValueError, match="has 2 parameters"):
        Adam(params[:2]).load_state_dict(good)
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict(broken(**{f"{i}.max_exp_avg_sq": None for i in range(3)}))
    # Nothing was written by the refused loads.
    after = opt.state_dict()
    assert after["meta"] == good["meta"]
    for key, value in good["arrays"].items():
        assert np.array_equal(after["arrays"][key], value)


# -- gradient clipping ------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    params = make_params()
    for p, g in zip(params, make_gradients(num_steps=1)[0]):
        p.grad[...] = g
    tensors = [torch.tensor(p.data) for p in params]
    for t, p in zip(tensors, params):
        t.grad = torch.from_numpy(p.grad.copy())
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm, foreach=False)
    total = clip_grad_norm(params, max_norm)
    assert isinstance(total, float)
    assert abs(total - expected_norm.item()) <= 1e-12 * total
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=0, atol=OPTIM_TOL)
    clipped = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
    assert clipped <= max_norm + 1e-9


def test_clip_grad_value_matches_torch():
    params = make_params()
    for p, g in zip(params, make_gradients(num_steps=1)[0]):
        p.grad[...] = g
    tensors = [torch.tensor(p.data) for p in params]
    for t, p in zip(tensors, params):
        t.grad = torch.from_numpy(p.grad.copy())
    torch.nn.utils.clip_grad_value_(tensors, 0.7)
    clip_grad_value(params, 0.7)
    for p, t in zip(params, tensors):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_clip_grad_norm_leaves_non_finite_gradients_alone():
    params = make_params()
    params[0].grad[0, 0] = np.inf
    assert clip_grad_norm(params, 1.0) == np.inf
    assert params[0].grad[0, 0] == np.inf


# -- learning-rate schedules ------------------------------------------------------
def test_step_decay_matches_torch_step_lr():
    params = make_params()
    opt = SGD(params, lr=0.3)
    scheduler = Scheduler(opt, StepDecay(lr=0.3, step_size=3, gamma=0.5))
    tensor = torch.zeros(1, requires_grad=True)
    torch_opt = torch.optim.SGD([tensor], lr=0.3)
    torch_scheduler = torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3, gamma=0.5)
    for _ in range(12):
        assert abs(opt.lr - torch_opt.param_groups[0]["lr"]) <= 1e-12 * opt.lr
        torch_opt.step()
        scheduler.step()
        torch_scheduler.step()


def test_warmup_cosine_formula():
    schedule = WarmupCosine(lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
    assert schedule(0) == pytest.approx(0.1)           # lr / warmup_steps
    assert schedule(4) == pytest.approx(0.5)
    assert schedule(9) == pytest.approx(1.0)           # end of warm-up
    assert schedule(10) == pytest.approx(1.0)          # cosine starts at lr
    assert schedule(60) == pytest.approx(0.55)         # halfway: (lr + min_lr) / 2
    assert schedule(110) == pytest.approx(0.1)         # end: min_lr
    assert schedule(500) == 0.1
    assert WarmupCosine(lr=2.0, warmup_steps=0, total_steps=4)(0) == 2.0


def test_constant_schedule_and_scheduler_resume():
    assert Constant(0.01)(1234) == 0.01
    schedule = WarmupCosine(lr=1e-2, warmup_steps=5, total_steps=50)
    straight = Scheduler(SGD(make_params(), lr=1.0), schedule)
    for _ in range(20):
        straight.step()
    first = Scheduler(SGD(make_params(), lr=1.0), schedule)
    for _ in range(7):
        first.step()
    resumed = Scheduler(SGD(make_params(), lr=1.0), schedule)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert resumed.optimizer.lr == first.optimizer.lr
    for _ in range(13):
        resumed.step()
    assert resumed.optimizer.lr == straight.optimizer.lr
    assert resumed.step_count == 20


# -- bad input ----------------------------------------------------------------------
@pytest.mark.parametrize("make, error, match", [
    (lambda p: SGD(p, lr=-0.1), ValueError, "lr"),
    (lambda p: SGD(p, lr=float("nan")), ValueError, "lr"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), ValueError, "momentum"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    (lambda p: Adam(p, betas=0.9), ValueError, "betas"),
    (lambda p: AdamW(p, eps=-1e-8), ValueError, "eps"),
    (lambda p: Adam(p, amsgrad="yes"), TypeError, "amsgrad"),
    (lambda p: RMSprop(p, alpha=-0.5), ValueError, "alpha"),
    (lambda p: RMSprop(p, lr="0.01"), ValueError, "lr"),
    (lambda p: SGD([], lr=0.1), ValueError, "params is empty"),
    (lambda p: SGD(p[0], lr=0.1), TypeError, "params must be an iterable"),
    (lambda p: SGD([p[0], p[0].data], lr=0.1), TypeError, r"params\[1\]"),
    (lambda p: SGD([p[0], p[0]], lr=0.1), ValueError, "more than once"),
    (lambda p: clip_grad_norm(p, 0), ValueError, "max_norm"),
    (lambda p: clip_grad_norm([p[0].grad], 1.0), TypeError, r"params\[0\]"),
    (lambda p: clip_grad_value(p, -1.0), ValueError, "clip_value"),
    (lambda p: StepDecay(0.1, step_size=0), ValueError, "step_size"),
    (lambda p: WarmupCosine(0.1, warmup_steps=10, total_steps=10), ValueError, "total_steps"),
    (lambda p: WarmupCosine(0.1, 0, 10, min_lr=0.2), ValueError, "min_lr"),
    (lambda p: Scheduler(object(), Constant(0.1)), TypeError, "optimizer"),
    (lambda p: Scheduler(SGD(p, lr=0.1), 0.1), TypeError, "schedule"),
    (lambda p: Scheduler(SGD(p, lr=0.1), Constant(0.1)).load_state_dict({"step_count": -2}),
     ValueError, "step_count"),
])
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make(make_params())


# -- the compiled Adam (rnnkit/kernels/adam.py) against the NumPy reference ---------
@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", [
    case for case in CASES if case[0].startswith("Adam")] + [
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),          # lerp's second form (weight >= 0.5)
    ("AdamW", dict(lr=0.003, betas=(0.5, 0.95), weight_decay=0.02)),
])
@pytest.mark.parametrize("size", [7, ADAM_SPLIT_SIZE + 5])  # one call; split between workers
def test_compiled_adam_is_the_reference_bit_for_bit(name, kwargs, dtype, size):
    rng = np.random.default_rng(size)
    shapes = [(size,), (3, 5)]
    fused, reference = ([Parameter(rng.standard_normal(shape).astype(dtype))
                         for shape in shapes] for _ in range(2))
    for p, q in zip(fused, reference):
        q.data[...] = p.data
    reference_opt = RNNKIT[name](reference, **kwargs)
    reference_opt.fused = False
    fused_opt = RNNKIT[name](fused, **kwargs)
    previous = kernels.threads()
    kernels.set_threads(2)
    try:
        for step in range(6):
            for p, q in zip(fused, reference):
                p.grad[...] = q.grad[...] = (rng.standard_normal(p.shape)
                                             * rng.uniform(0.1, 3.0)).astype(dtype)
            fused_opt.step()
            reference_opt.step()
    finally:
        kernels.set_threads(previous)
    for p, q in zip(fused, reference):
        assert p.data.dtype == dtype
        np.testing.assert_array_equal(p.data, q.data)
    for key, value in reference_opt.state_dict()["arrays"].items():
        np.testing.assert_array_equal(fused_opt.state_dict()["arrays"][key], value)


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
def test_compiled_adam_falls_back_on_arrays_it_cannot_take():
    """A non-contiguous gradient, or integer arrays, take the reference path."""
    from rnnkit.kernels.adam import SPLIT_SIZE, usable

    assert SPLIT_SIZE == ADAM_SPLIT_SIZE
    grid = np.zeros((3, 4))
    assert usable([grid, grid]) and not usable([grid, grid.T]) and not usable([grid, grid[:, ::2]])
    assert not usable([grid.astype(np.float32), grid]) and not usable([grid.astype(int)] * 2)
    param, twin = Parameter(np.arange(12.0).reshape(3, 4)), Parameter(np.arange(12.0).reshape(3, 4))
    param.grad = np.asfortranarray(np.linspace(-1, 1, 12).reshape(3, 4))
    twin.grad[...] = param.grad
    opt, reference = Adam([param], lr=0.1), Adam([twin], lr=0.1)
    reference.fused = False
    opt.step()
    reference.step()
    np.testing.assert_array_equal(param.data, twin.data)
