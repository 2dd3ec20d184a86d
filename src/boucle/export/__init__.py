"""Files out: boucle models as ONNX graphs, runnable where boucle is not installed.

``boucle.export_onnx(model, path)`` (and ``boucle export MODEL OUT.onnx``) writes a
``Sequential`` as one graph computing ``predict``, a ``CharModel`` as a one-step
generation graph (token ids and states in, logits and states out) and a ``Seq2Seq`` as
its encoder and its decoder step. Needs the ``onnx`` extra (``pip install 'boucle[onnx]'``;
``onnxruntime`` runs the graphs). How each layer maps to ONNX operators:
:mod:`boucle.export.layers` and :mod:`boucle.export.recurrent`.
"""

from .models import charmodel_graph, export_onnx, seq2seq_graphs, seq2seq_paths, sequential_graph

__all__ = ["export_onnx", "sequential_graph", "charmodel_graph", "seq2seq_graphs", "seq2seq_paths"]
