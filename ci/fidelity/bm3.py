"""Fidelity check: mmbench's BM3Teacher against MMRec's BM3 (src/models/bm3.py), with the same weights.

On a 40 users × 30 items graph with image 16-d + text 24-d features, 2 layers, target dropout 0 and 0.5 (the
global RNG seeded identically before each side; the batch repeats an item, which must get one dropout mask),
compares (a) full_sort_predict vs score, (b) calculate_loss vs loss on one batch, (c) the gradient of every
shared parameter. Tolerance: 1e-5 absolute on each. Exit status 1 if any comparison exceeds it.
"""

from __future__ import annotations

import sys

import torch

import _mmrec
from mmbench.components.teachers.bm3 import BM3Teacher

TOL = 1e-5


def pairs(theirs: torch.nn.Module, mine: BM3Teacher) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, MMRec's parameter, ours); the last two pair MMRec's feature tables with our offsets."""
    return [("user", theirs.user_embedding.weight, mine.user.weight),
            ("item", theirs.item_id_embedding.weight, mine.item.weight),
            ("predictor.weight", theirs.predictor.weight, mine.predictor.weight),
            ("predictor.bias", theirs.predictor.bias, mine.predictor.bias),
            ("image_trs.weight", theirs.image_trs.weight, mine.proj["image"].weight),
            ("image_trs.bias", theirs.image_trs.bias, mine.proj["image"].bias),
            ("text_trs.weight", theirs.text_trs.weight, mine.proj["text"].weight),
            ("text_trs.bias", theirs.text_trs.bias, mine.proj["text"].bias),
            ("image_embedding", theirs.image_embedding.weight, mine.feature_offset["image"]),
            ("text_embedding", theirs.text_embedding.weight, mine.feature_offset["text"])]


def run(bm3: type, report: _mmrec.Report, dropout: float) -> None:
    report.title(f"dropout={dropout}")
    graph, features = _mmrec.toy_data(0, 220)
    params = {"n_layers": 2, "reg_weight": 0.1, "cl_weight": 2.0, "dropout": dropout}
    torch.manual_seed(0)
    theirs = _mmrec.build(bm3, graph, features, train_batch_size=16, embedding_size=64, **params)
    # text before image: MMRec draws the text target mask before the image one
    mine = BM3Teacher(graph, _mmrec.item_side(graph, features, ("text", "image")), dim=64, **params)
    with torch.no_grad():  # MMRec's weights (and a non-zero feature offset) into ours
        for _, a, b in pairs(theirs, mine)[:8]:
            b.copy_(a)
        for m, emb in (("image", theirs.image_embedding), ("text", theirs.text_embedding)):
            mine.feature_offset[m].normal_(0, 0.1)
            emb.weight.copy_(torch.as_tensor(features[m]) + mine.feature_offset[m])

    ref, ours = _mmrec.scores(theirs, mine)
    report.check("(a) full-sort scores", _mmrec.maxdiff(ref, ours), TOL)
    batch = _mmrec.toy_batch(graph, 16, seed=1, distinct=True)
    batch[1][1] = batch[1][0]  # a repeated item: both sides must give it one dropout mask
    loss_theirs, loss_mine, _ = _mmrec.losses(theirs, mine, batch, seed=123)
    report.check("(b) loss", _mmrec.maxdiff(loss_theirs, loss_mine), TOL)
    report.info("    loss value", float(loss_mine))
    for name, a, b in pairs(theirs, mine):
        report.check(f"(c) grad {name}", _mmrec.maxdiff(a.grad, b.grad), TOL)
    report.info("    max |grad|", max(float(a.grad.abs().max()) for _, a, _ in pairs(theirs, mine)))


def main() -> int:
    bm3 = _mmrec.load("bm3", "BM3", __doc__)
    report = _mmrec.Report()
    for dropout in (0.0, 0.5):
        run(bm3, report, dropout)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
