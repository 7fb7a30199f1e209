"""rnnkit.LayerNormLSTM (Ba, Kiros & Hinton 2016): a PyTorch twin built from
torch.nn.LayerNorm and a step loop (outputs, final states, input, state and every
parameter gradient to 1e-9 in float64), finite differences with non-trivial gains and
biases, and the registry: every model and application takes ``cell="lnlstm"``."""

import numpy as np
import pytest
from helpers import GRAD_TOL, TORCH_TOL, check_module_gradients, run_cli

import rnnkit


def randomise_layer_norms(module, rng):
    """Gains around 1 and biases around 0, so a wrong use of either shows."""
    for name, p in module.named_parameters():
        if name.startswith("ln_"):
            p.data[...] = (1.0 if "_weight" in name else 0.0) + 0.5 * rng.standard_normal(p.shape)


def torch_twin(layer):
    """The same layer from torch.nn.LayerNorm and a Python step loop (float64)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterDict()
            self.norms = nn.ModuleDict()
            H = layer.hidden_size
            for name, p in layer.named_parameters():
                if name.startswith("weight_"):
                    self.weights[name] = nn.Parameter(torch.tensor(p.data))
            for sfx in self.suffixes():
                for prefix, size in (("ln_ih", 4 * H), ("ln_hh", 4 * H), ("ln_c", H)):
                    norm = nn.LayerNorm(size, eps=1e-5, bias=layer.bias, dtype=torch.float64)
                    with torch.no_grad():
                        norm.weight.copy_(torch.tensor(getattr(layer, f"{prefix}_weight{sfx}").data))
                        if layer.bias:
                            norm.bias.copy_(torch.tensor(getattr(layer, f"{prefix}_bias{sfx}").data))
                    self.norms[prefix + sfx] = norm

        def suffixes(self):
            return [f"_l{k}" + ("_reverse" if d else "")
                    for k in range(layer.num_layers) for d in range(layer.num_directions)]

        def direction(self, x, h, c, lengths, sfx, reverse):
            T = x.shape[0]
            W_ih, W_hh = self.weights["weight_ih" + sfx], self.weights["weight_hh" + sfx]
            outs = [None] * T
            for t in (range(T - 1, -1, -1) if reverse else range(T)):
                gates = self.norms["ln_ih" + sfx](x[t] @ W_ih.T) + self.norms["ln_hh" + sfx](h @ W_hh.T)
                i, f, g, o = gates.chunk(4, 1)
                c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h_new = torch.sigmoid(o) * torch.tanh(self.norms["ln_c" + sfx](c_new))
                valid = (t < lengths)[:, None]
                h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
                outs[t] = torch.where(valid, h_new, torch.zeros_like(h_new))
            return torch.stack(outs), h, c

        def forward(self, x, h0, c0, lengths):
            h_n, c_n = [], []
            for k in range(layer.num_layers):
                outs = []
                for d in range(layer.num_directions):
                    idx = k * layer.num_directions + d
                    out, h, c = self.direction(x, h0[idx], c0[idx], lengths,
                                               self.suffixes()[idx], d == 1)
                    outs.append(out)
                    h_n.append(h)
                    c_n.append(c)
                x = torch.cat(outs, dim=2)
            return x, torch.stack(h_n), torch.stack(c_n)

    return Twin()


CONFIGS = [  # num_layers, bidirectional, variable lengths, bias
    (1, False, False, True),
    (1, True, True, True),
    (2, True, True, True),
    (3, False, True, True),
    (2, True, False, False),
]


def make_case(config, rng, T, B, D, H):
    """A float64 layer with random layer-norm gains and biases, x (T, B, D), h0 and c0."""
    num_layers, bidirectional, _, bias = config
    layer = rnnkit.LayerNormLSTM(D, H, num_layers=num_layers, bidirectional=bidirectional,
                                 bias=bias, dtype=np.float64, seed=int(rng.integers(100)))
    randomise_layer_norms(layer, rng)
    LD = num_layers * layer.num_directions
    states = rng.standard_normal((2, LD, B, H))
    return layer, rng.standard_normal((T, B, D)), states[0], states[1]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-var{}-bias{}".format(*map(int, c)))
def test_layer_matches_torch_twin(config):
    torch = pytest.importorskip("torch")
    varlen, bias = config[2:]
    rng = np.random.default_rng(3)
    T, B, H = 6, 4, 5
    layer, x, h0, c0 = make_case(config, rng, T, B, 3, H)
    twin = torch_twin(layer)
    LD = h0.shape[0]
    lengths = np.array([6, 2, 5, 1]) if varlen else np.full(B, T)
    d_out = rng.standard_normal((T, B, layer.num_directions * H))
    d_h, d_c = rng.standard_normal((LD, B, H)), rng.standard_normal((LD, B, H))

    out, (h_n, c_n) = layer.forward(x, (h0, c0), lengths if varlen else None)
    dx, (dh0, dc0) = layer.backward(d_out, (d_h, d_c))

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    t_out, t_h, t_c = twin(xt, h0t, c0t, torch.tensor(lengths))
    loss = (t_out * torch.tensor(d_out)).sum() + (t_h * torch.tensor(d_h)).sum() \
        + (t_c * torch.tensor(d_c)).sum()
    loss.backward()

    diffs = {"out": out - t_out.detach().numpy(), "h_n": h_n - t_h.detach().numpy(),
             "c_n": c_n - t_c.detach().numpy(), "dx": dx - xt.grad.numpy(),
             "dh0": dh0 - h0t.grad.numpy(), "dc0": dc0 - c0t.grad.numpy()}
    twin_grads = {name: p.grad for name, p in twin.weights.items()}
    for key, norm in twin.norms.items():
        prefix, sfx = key.split("_l")
        twin_grads[f"{prefix}_weight_l{sfx}"] = norm.weight.grad
        if bias:
            twin_grads[f"{prefix}_bias_l{sfx}"] = norm.bias.grad
    ours = dict(layer.named_parameters())
    assert set(twin_grads) == set(ours)
    diffs.update({name: ours[name].grad - g.numpy() for name, g in twin_grads.items()})
    worst = {k: float(np.abs(v).max()) for k, v in diffs.items()}
    assert max(worst.values()) < TORCH_TOL, worst
    assert np.abs(out).max() > 0.05 and np.abs(layer.ln_c_weight_l0.grad).max() > 0.05


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-var{}-bias{}".format(*map(int, c)))
def test_layer_gradients_with_random_gains(config):
    layer, x, h0, c0 = make_case(config, np.random.default_rng(5), T=4, B=3, D=2, H=3)
    lengths = np.array([4, 1, 3]) if config[2] else None

    def backward(weights):
        d_out, d_state = weights
        dx, (dh0, dc0) = layer.backward(d_out, d_state)
        return {"x": dx, "h0": dh0, "c0": dc0}

    worst, errors = check_module_gradients(lambda: layer.forward(x, (h0, c0), lengths), backward,
                                           {"x": x, "h0": h0, "c0": c0}, layer.parameters())
    assert worst < GRAD_TOL, errors


def test_cell_is_one_step_of_the_layer():
    rng = np.random.default_rng(0)
    layer = rnnkit.LayerNormLSTM(3, 4, dtype=np.float64, seed=1)
    randomise_layer_norms(layer, rng)
    cell = rnnkit.LayerNormLSTMCell(3, 4, dtype=np.float64)
    cell.load_state_dict({name[:-3]: a for name, a in layer.state_dict().items()})
    x = rng.standard_normal((1, 2, 3))
    out, (h_n, c_n) = layer.forward(x)
    h, c = cell.forward(x[0])
    np.testing.assert_allclose(h, out[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(c, c_n[0], rtol=0, atol=1e-15)


def test_layer_norm_keeps_the_cell_output_scale():
    """What the normalisation is for: with large inputs a plain LSTM's gates saturate;
    the normalised gate pre-activations keep unit scale whatever the input scale."""
    rng = np.random.default_rng(0)
    x = 50.0 * rng.standard_normal((20, 8, 6))
    ln = rnnkit.LayerNormLSTM(6, 16, dtype=np.float64, seed=0)
    gi, _ = ln.kernel.project_input(x.reshape(-1, 6), {n: p.data for n, p in ln._parameters(0, 0).items()})
    np.testing.assert_allclose(gi.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(gi.std(1), 1, atol=1e-5)


def test_every_model_takes_the_cell():
    from rnnkit.forecasting.model import Forecaster

    assert "lnlstm" in rnnkit.CELLS
    lm = rnnkit.LanguageModel(11, embed_size=4, hidden_size=6, num_layers=2, cell="lnlstm", seed=0)
    ids = np.random.default_rng(0).integers(0, 11, size=(5, 2))
    logits, state = lm.forward(ids, lm.init_state(2))
    assert logits.shape == (5, 2, 11) and len(state) == 2
    assert isinstance(lm.rnn, rnnkit.LayerNormLSTM)
    clf = rnnkit.SequenceClassifier(2, input_size=3, hidden_size=4, cell="lnlstm",
                                    bidirectional=True, seed=0)
    assert isinstance(clf.rnn, rnnkit.LayerNormLSTM)
    assert isinstance(Forecaster(3, 1, cell="lnlstm", seed=0).rnn, rnnkit.LayerNormLSTM)


@pytest.mark.parametrize("app", ["textgen", "sentiment", "vowels", "imageseq", "forecast",
                                 "translate"])
def test_every_application_offers_the_cell(app, capsys):
    status, stdout, _ = run_cli([app, "train", "--help"], capsys)
    assert status == 0 and "lnlstm" in stdout


def test_textgen_trains_samples_and_reloads_a_layer_norm_lstm(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 30)
    out = tmp_path / "model"
    status, _, stderr = run_cli(["textgen", "train", "--corpus", str(corpus), "--out", str(out),
                                 "--cell", "lnlstm", "--hidden-size", "12", "--num-layers", "2",
                                 "--seq-len", "8", "--batch-size", "4", "--max-steps", "4"], capsys)
    assert status == 0, stderr
    model = rnnkit.load_model(out / "checkpoint.npz")[0]
    assert isinstance(model.rnn, rnnkit.LayerNormLSTM) and model.rnn.num_layers == 2
    status, stdout, stderr = run_cli(["textgen", "sample", "--model", str(out), "--length", "20",
                                      "--seed", "1"], capsys)
    assert status == 0 and len(stdout.strip()) >= 20, stderr


def test_unknown_cell_lists_the_registry():
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lnlstm', 'lstm', 'rnn'\]"):
        rnnkit.LanguageModel(5, cell="transformer")
