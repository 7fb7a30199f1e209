"""`make demo`: a short forward/backward example (the training issue gives it its real job)."""

import numpy as np

import rnnkit


def main() -> None:
    rng = np.random.default_rng(0)
    lstm = rnnkit.LSTM(input_size=8, hidden_size=16, num_layers=2, bidirectional=True, seed=0)
    x = rng.standard_normal((20, 4, 8)).astype(np.float32)          # (T, B, D)
    out, (h_n, c_n) = lstm.forward(x, lengths=np.array([20, 15, 9, 3]))
    dx, (dh0, dc0) = lstm.backward(np.ones_like(out))
    print(f"out {out.shape}, h_n {h_n.shape}, dx {dx.shape}")
    for name, p in lstm.named_parameters():
        print(f"  {name:24s} {str(p.shape):10s} |grad| = {np.linalg.norm(p.grad):.4f}")


if __name__ == "__main__":
    main()
