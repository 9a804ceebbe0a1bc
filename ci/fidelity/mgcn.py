"""Fidelity check: mmbench's MGCNTeacher against MMRec's MGCN (src/models/mgcn.py), with the same weights.

On a 40 users × 30 items graph with image 16-d + text 24-d features (fine-tuned: the official feature tables are
perturbed after the k-NN graphs are built, mirrored as our offsets), three seeds and settings of cl_loss and
reg_weight, compares the k-NN graphs, the user-item matrices, (a) full_sort_predict vs score, (b) calculate_loss
vs loss on one batch, (c) the gradients of every shared parameter. Tolerance: 1e-5 absolute on each.
Exit status 1 if any comparison exceeds it.
"""

from __future__ import annotations

import sys

import torch

import _mmrec
from mmbench.components._graph import knn_graph
from mmbench.components.teachers.mgcn import MGCNTeacher

TOL = 1e-5
BATCH = 64


def shared_names() -> dict[str, str]:
    """Our parameter name -> MMRec's, for the parameters copied from MMRec into ours."""
    names = {"user.weight": "user_embedding.weight", "item.weight": "item_id_embedding.weight",
             "query.0.weight": "query_common.0.weight", "query.0.bias": "query_common.0.bias",
             "query.2.weight": "query_common.2.weight"}
    for m in ("image", "text"):
        for p in ("weight", "bias"):
            names[f"proj.{m}.{p}"] = f"{m}_trs.{p}"
            names[f"gate.{m}.{p}"] = f"gate_{'v' if m == 'image' else 't'}.0.{p}"
            names[f"prefer.{m}.{p}"] = f"gate_{m}_prefer.0.{p}"
    return names


def run(mgcn: type, report: _mmrec.Report, seed: int, cl_loss: float, reg_weight: float) -> None:
    report.title(f"seed={seed} cl_loss={cl_loss} reg_weight={reg_weight}")
    graph, features = _mmrec.toy_data(seed, 240)
    torch.manual_seed(seed)
    official = _mmrec.build(mgcn, graph, features, train_batch_size=BATCH, cl_loss=cl_loss, n_ui_layers=2,
                            embedding_size=64, knn_k=10, n_layers=1, reg_weight=reg_weight)
    ours = MGCNTeacher(graph, _mmrec.item_side(graph, features, ("image", "text")), cl_loss=cl_loss,
                       reg_weight=reg_weight)
    with torch.no_grad():  # fine-tuned features: perturb the official tables, mirror as our offsets
        for m, emb in [("image", official.image_embedding), ("text", official.text_embedding)]:
            delta = 0.1 * torch.randn_like(emb.weight)
            emb.weight += delta
            ours.feature_offset[m].copy_(delta)
    names = shared_names()
    theirs, mine = dict(official.named_parameters()), dict(ours.named_parameters())
    with torch.no_grad():
        for a, b in names.items():
            mine[a].copy_(theirs[b])
    names.update({"feature_offset.image": "image_embedding.weight", "feature_offset.text": "text_embedding.weight"})
    assert set(names) == set(mine), set(mine) ^ set(names)
    assert set(names.values()) == set(theirs), set(theirs) ^ set(names.values())

    graphs = ours.item_graphs()
    for m in ("image", "text"):
        ref = getattr(official, f"{m}_original_adj").to_dense()
        report.check(f"knn graph {m}", _mmrec.maxdiff(ref, graphs[m].matrix.to_dense()), TOL)
    # the shared FREEDOM graph (binary, 1/k) is not MGCN's (similarity-weighted): shown for the record
    binary = knn_graph(torch.as_tensor(features["image"]), torch.ones(graph.n_items, dtype=torch.bool), 10)
    report.info("    shared knn_graph vs official", _mmrec.maxdiff(official.image_original_adj.to_dense(),
                                                                   binary.matrix.to_dense()))
    report.check("R (user-item)", _mmrec.maxdiff(official.R.to_dense(), ours.user_items.matrix.to_dense()), TOL)
    report.check("norm_adj", _mmrec.maxdiff(official.norm_adj.to_dense(), ours.adj.matrix.to_dense()), TOL)

    ref, score = _mmrec.scores(official, ours)
    report.check("(a) full_sort_predict vs score", _mmrec.maxdiff(ref, score), TOL)
    report.info("    |score| max", float(ref.abs().max()))
    batch = _mmrec.toy_batch(graph, BATCH, seed=seed, distinct=False)
    loss_ref, loss, _ = _mmrec.losses(official, ours, batch, seed=seed)
    report.check("(b) loss", _mmrec.maxdiff(loss_ref, loss), TOL)
    report.info("    loss value", float(loss_ref))
    report.check("(c) max grad diff", max(_mmrec.maxdiff(theirs[b].grad, mine[a].grad) for a, b in names.items()),
                 TOL)
    report.info("    max |grad|", max(float(theirs[b].grad.abs().max()) for b in names.values()))


def main() -> int:
    mgcn = _mmrec.load("mgcn", "MGCN", __doc__)
    report = _mmrec.Report()
    for seed, cl_loss, reg_weight in [(0, 0.001, 1e-4), (1, 0.1, 1e-2), (2, 0.01, 1e-4)]:
        run(mgcn, report, seed, cl_loss, reg_weight)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
