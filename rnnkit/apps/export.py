"""``rnnkit export MODEL_DIR OUT.onnx``: a trained application's model as an ONNX graph.

Any ``--out`` directory of ``rnnkit <app> train`` (or its ``checkpoint.npz``) whose model
:func:`rnnkit.export.to_onnx` knows: textgen's language model (one step with state in and
out, for generation), the classifiers of sentiment, vowels and imageseq, the forecaster,
the speech model, the music model (both outputs) and translate's encoder-decoder, as two
graphs: ``NAME-encoder.onnx``
(source ids -> attention memory and the decoder's first state) and ``NAME-decoder.onnx``
(one decoding step). The best weights are exported. What a
program needs beside the graph travels in its metadata
(``session.get_modelmeta().custom_metadata_map`` in ONNX Runtime), as JSON strings:

    rnnkit_app, rnnkit_class, rnnkit_config     always
    rnnkit_extra                                everything the app saved with the model
                                                (its settings, scaling, alphabet...)
    vocabulary                                  textgen: {"level", "tokens": [...]}
    classes, encoder                            classifiers: the labels, the input encoding

Python::

    from rnnkit.apps.export import export
    export("runs/demo", "demo.onnx")
"""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.apps._args import OneLineErrors, positive_int
from rnnkit.errors import InputError, MissingFileError

CHECKPOINT = "checkpoint.npz"


def _checkpoint(model_dir) -> Path:
    path = Path(model_dir)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise MissingFileError(f"no model at {str(model_dir)!r}: give the --out directory of "
                               f"`rnnkit <app> train` or its {CHECKPOINT}")
    return path


def export(model_dir, out, opset=None) -> dict:
    """Write the model trained in ``model_dir`` to ``out`` (ONNX); returns what was written:
    ``{"path", "app", "class", "inputs", "outputs", "bytes"}``."""
    from rnnkit.apps._run import app_of
    from rnnkit.export import DEFAULT_OPSET, EXPORTABLE, seq2seq_paths, to_onnx
    from rnnkit.training import load_model

    out = Path(out)
    if out.suffix != ".onnx":
        raise InputError(f"the output file must end in .onnx, got {str(out)!r}")
    if not out.parent.is_dir():
        raise MissingFileError(f"no folder {str(out.parent)!r} to write {out.name} into")
    path = _checkpoint(model_dir)
    model, meta = load_model(path)
    app, name = app_of(meta), type(model).__name__
    if name not in EXPORTABLE:
        raise InputError(f"{str(model_dir)!r} holds a {name} (trained by `rnnkit {app}`), which "
                         f"cannot be exported to ONNX yet; exportable: {', '.join(EXPORTABLE)}")
    extra = meta.get("extra") or {}
    metadata = {"rnnkit_app": str(app), "rnnkit_class": name,
                "rnnkit_config": json.dumps(model.config()), "rnnkit_extra": json.dumps(extra)}
    for key in ("vocab", "classes", "encoder"):
        if key in extra:
            metadata["vocabulary" if key == "vocab" else key] = json.dumps(extra[key])
    exported = to_onnx(model, out, opset=opset or DEFAULT_OPSET, metadata=metadata)
    if isinstance(exported, tuple):                       # Seq2Seq: an encoder and a decoder step
        paths = [Path(p) for p in seq2seq_paths(out)]
    else:
        exported, paths = (exported,), [out]
    return {"paths": [str(p) for p in paths], "app": app, "class": name,
            "graphs": [{"path": str(p), "inputs": [i.name for i in m.graph.input],
                        "outputs": [o.name for o in m.graph.output], "bytes": p.stat().st_size}
                       for p, m in zip(paths, exported)]}


def _run(args):
    written = export(args.model, args.out, args.opset)
    for graph in written["graphs"]:
        print(f"wrote {graph['path']} ({graph['bytes']:,} bytes): the {written['class']} of "
              f"`rnnkit {written['app']}`, inputs {', '.join(graph['inputs'])} -> outputs "
              f"{', '.join(graph['outputs'])}")
    return 0


def build_parser(parser):
    from rnnkit.export import DEFAULT_OPSET

    parser.error = lambda message: OneLineErrors.error(parser, message)
    parser.description = ("Export a trained model to ONNX (run it with ONNX Runtime, no rnnkit "
                          "needed): the models of textgen, sentiment, vowels, imageseq, forecast, "
                          "translate (two graphs), speech and music.")
    parser.add_argument("model", metavar="MODEL_DIR",
                        help="the --out directory of `rnnkit <app> train` (or its checkpoint.npz)")
    parser.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    parser.add_argument("--opset", type=positive_int, default=None, metavar="N",
                        help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.set_defaults(run=_run)
