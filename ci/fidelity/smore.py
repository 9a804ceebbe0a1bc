"""Fidelity check: mmbench's SMORETeacher against MMRec's SMORE (src/models/smore.py), with the same weights.

Random weights go into ours, then the same values into MMRec's class (our feature offsets plus the features into
its feature tables). On a 40 users × 30 items graph with non-negative image 16-d + text 24-d features and three
settings of n_ui_layers, n_layers, image/text k and dropout (0 and 0.1, the global RNG seeded identically before
each side), compares the image, text and fused item graphs, (a) full_sort_predict vs score, (b) calculate_loss
vs loss on one batch, (c) the gradients of every shared parameter. Tolerance: 1e-5 absolute on each. Control:
with dropout, another draw must change the loss. Exit status 1 if any comparison fails.
"""

from __future__ import annotations

import sys

import torch

import _mmrec
from mmbench.components.teachers.smore import SMORETeacher

TOL = 1e-5
BATCH = 64


def pairs(o: torch.nn.Module, m: SMORETeacher) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, MMRec's parameter, ours) for every shared parameter; the feature tables pair with our offsets."""
    mods = {
        "user_embedding": m.user, "item_id_embedding": m.item, "image_trs": m.proj["image"],
        "text_trs": m.proj["text"], "gate_v": m.gates["image"], "gate_t": m.gates["text"], "gate_f": m.fusion_gate,
        "query_v": m.queries["image"], "query_t": m.queries["text"], "gate_image_prefer": m.prefer["image"],
        "gate_text_prefer": m.prefer["text"], "gate_fusion_prefer": m.fusion_prefer}
    out = []
    for name, mine in mods.items():
        theirs = dict(getattr(o, name).named_parameters())
        out += [(f"{name}.{k}", theirs[k], p) for k, p in mine.named_parameters()]
    out += [("image_complex_weight", o.image_complex_weight, m.filters["image"]),
            ("text_complex_weight", o.text_complex_weight, m.filters["text"]),
            ("fusion_complex_weight", o.fusion_complex_weight, m.fusion_filter),
            ("image_embedding.weight", o.image_embedding.weight, m.feature_offset["image"]),
            ("text_embedding.weight", o.text_embedding.weight, m.feature_offset["text"])]
    return out


def dense(x: torch.Tensor) -> torch.Tensor:
    return x.to_dense() if x.layout == torch.strided or x.is_sparse else x.to_sparse_coo().to_dense()


def run(smore: type, report: _mmrec.Report, seed: int, cfg: dict) -> None:
    report.title(f"config {cfg} (seed {seed})")
    # non-negative features, like CNN / sentence-encoder outputs: every kept similarity is positive
    graph, features = _mmrec.toy_data(seed, 260, uniform=True)
    torch.manual_seed(seed)
    o = _mmrec.build(smore, graph, features, train_batch_size=BATCH, embedding_size=64, cl_loss=cfg["cl_loss"],
                     n_ui_layers=cfg["n_ui_layers"], n_layers=cfg["n_layers"], reg_weight=cfg["reg_weight"],
                     image_knn_k=cfg["image_k"], text_knn_k=cfg["text_k"], dropout_rate=cfg["dropout"])
    m = SMORETeacher(graph, _mmrec.item_side(graph, features, ("image", "text")), dim=64,
                     n_ui_layers=cfg["n_ui_layers"], n_mm_layers=cfg["n_layers"], image_knn_k=cfg["image_k"],
                     text_knn_k=cfg["text_k"], reg_weight=cfg["reg_weight"], cl_loss=cfg["cl_loss"],
                     dropout_rate=cfg["dropout"])
    base = {"image_embedding.weight": torch.as_tensor(features["image"]),
            "text_embedding.weight": torch.as_tensor(features["text"])}
    with torch.no_grad():  # random weights into ours, then the same values into MMRec's
        for p in m.parameters():
            p.normal_(0, 0.3)
        for name, theirs, mine in pairs(o, m):
            theirs.copy_(mine + base[name] if name in base else mine)

    graphs, fused = m.item_graphs()
    report.check("image graph", _mmrec.maxdiff(dense(o.image_original_adj), dense(graphs["image"].matrix)), TOL)
    report.check("text graph", _mmrec.maxdiff(dense(o.text_original_adj), dense(graphs["text"].matrix)), TOL)
    report.check("fused graph", _mmrec.maxdiff(dense(o.fusion_adj), dense(fused.matrix)), TOL)
    theirs, ours = _mmrec.scores(o, m)
    report.check("(a) scores", _mmrec.maxdiff(theirs, ours), TOL)
    report.info("    score scale", float(theirs.abs().max()))
    batch = _mmrec.toy_batch(graph, BATCH, seed=seed + 1, distinct=False)
    lo, lm, warned = _mmrec.losses(o, m, batch, seed=123)
    report.check("(b) loss", _mmrec.maxdiff(lo, lm), TOL)
    report.info("    loss value", float(lo))
    report.check("(c) max grad diff", max(_mmrec.maxdiff(a.grad, b.grad) for _, a, b in pairs(o, m)), TOL)
    report.info("    max grad", max(float(a.grad.abs().max()) for _, a, _ in pairs(o, m)))
    if cfg["dropout"]:  # another dropout draw must change the loss, or the comparison proves nothing
        torch.manual_seed(321)
        with torch.no_grad():
            report.control("loss, other dropout draw (control)", _mmrec.maxdiff(lo, m.loss(*batch)), 1e-4)
    report.info("    deterministic-mode warnings (ours)", len(warned))


def main() -> int:
    smore = _mmrec.load("smore", "SMORE", __doc__)
    report = _mmrec.Report()
    configs = [dict(n_ui_layers=3, n_layers=1, image_k=10, text_k=10, dropout=0.0, reg_weight=1e-5, cl_loss=0.01),
               dict(n_ui_layers=4, n_layers=1, image_k=8, text_k=15, dropout=0.1, reg_weight=1e-4, cl_loss=0.01),
               dict(n_ui_layers=3, n_layers=2, image_k=20, text_k=5, dropout=0.1, reg_weight=1e-4, cl_loss=0.5)]
    for seed, cfg in enumerate(configs):
        run(smore, report, seed, cfg)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
