"""Text generation from an exported rnnkit language model with ONNX Runtime and NumPy only.

    rnnkit export runs/demo demo.onnx
    python docs/onnx_generate.py demo.onnx "ROMEO:" 300
"""
import json
import sys

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
tokens = json.loads(meta["vocabulary"])["tokens"]                # id -> character
config = json.loads(meta["rnnkit_config"])
states = [i.name for i in session.get_inputs()][1:]              # h0 (and c0 for an LSTM)
feed = {name: np.zeros((config["num_layers"], 1, config["hidden_size"]), np.float32)
        for name in states}
rng, text = np.random.default_rng(0), sys.argv[2]
ids = [tokens.index(c) for c in text]                            # the prime, then one at a time
for _ in range(int(sys.argv[3])):
    logits, *new_states = session.run(None, {"ids": np.array(ids)[:, None], **feed})
    feed = dict(zip(states, new_states))
    p = np.exp(logits[-1, 0] - logits[-1, 0].max())
    ids = [rng.choice(len(p), p=p / p.sum())]
    text += tokens[ids[0]]
print(text)
