"""One training step of a model whose loss is its own (``loss_and_backward(batch)``) and
of its torch twin (``twin.loss(batch)``), the same step for both: zero the gradients,
the loss and its backward, clip the global norm at ``clip``, Adam at ``lr`` (betas 0.9,
0.999, eps 1e-8). Used by the benchmarks that compare rnnkit with a twin side by side."""

from __future__ import annotations


def rnnkit_step(model, lr: float, clip: float):
    from rnnkit.optim import Adam, clip_grad_norm

    optimizer = Adam(model.parameters(), lr=lr)

    def step(batch):
        model.train()
        model.zero_grad()
        loss = model.loss_and_backward(batch)
        clip_grad_norm(model.parameters(), clip)
        optimizer.step()
        return loss
    return step


def torch_step(twin, lr: float, clip: float, **loss_options):
    """``loss_options`` go to ``twin.loss`` (e.g. ``valid_only=True``)."""
    import torch

    optimizer = torch.optim.Adam(twin.parameters(), lr=lr)

    def step(batch):
        twin.train()
        optimizer.zero_grad()
        loss = twin.loss(batch, **loss_options)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), clip)
        optimizer.step()
        return loss.item()
    return step


def time_alternating(step_fns: dict, batches, steps: int, repeats: int, count):
    """Time each of ``step_fns`` (name -> step(batch)) on the same batches, alternating step
    by step so all see the same machine load. Each takes one untimed step first (caches,
    JIT); then ``steps // repeats`` steps per block, ``repeats`` blocks, batch ``i + 1`` of
    ``batches`` in order. Returns ``({name: seconds per block}, {count(batch) summed per
    block})`` as arrays of shape ``(repeats,)``."""
    import time

    import numpy as np

    for fn in step_fns.values():
        fn(batches.batch(0, 0))
    n, block = batches.num_batches, max(1, steps // repeats)
    seconds = {name: np.zeros(repeats) for name in step_fns}
    counted = np.zeros(repeats)
    for i in range(block * repeats):
        batch = batches.batch((i + 1) // n, (i + 1) % n)
        for name, fn in step_fns.items():
            start = time.perf_counter()
            fn(batch)
            seconds[name][i // block] += time.perf_counter() - start
        counted[i // block] += count(batch)
    return seconds, counted
