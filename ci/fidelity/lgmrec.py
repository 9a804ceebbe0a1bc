"""Fidelity check: mmbench's LGMRecTeacher against MMRec's LGMRec (src/models/lgmrec.py), with the same weights.

LGMRec draws Gumbel noise (always, eval included) and hyperedge dropout (training) from the global torch RNG.
The global RNG is seeded identically before each side; our eval-mode noise comes from a private generator seeded
with EVAL_NOISE_SEED, which gives the draws of the global RNG seeded with it. On a 40 users × 30 items graph with
image 16-d + text 24-d features and three settings (baby's, clothing-like and sports-like with the loss terms
weighted up), compares the deterministic parts alone (LightGCN, the modality graphs, the hypergraph rounds on
given memberships), (a) full_sort_predict vs score, (b) calculate_loss vs loss on one batch, (c) the gradients
of every shared parameter. Tolerance: 1e-5 absolute on the deterministic parts and the scores; 1e-5 relative on
the loss and on each parameter's gradient (relative to its largest entry: gradients reach 41 when the loss terms
are weighted up). Control: another seed must change the loss. Exit status 1 if any comparison fails.
"""

from __future__ import annotations

import sys

import torch

import _mmrec
from mmbench.components._graph import propagate
from mmbench.components.teachers.lgmrec import EVAL_NOISE_SEED, LGMRecTeacher

TOL = 1e-5


def run(lgmrec: type, report: _mmrec.Report, label: str, params: dict) -> None:
    report.title(f"{label}: {params}")
    graph, features = _mmrec.toy_data(0, 260)
    torch.manual_seed(0)
    ours = LGMRecTeacher(graph, _mmrec.item_side(graph, features, ("text", "image")), **params)
    official = _mmrec.build(
        lgmrec, graph, features, train_batch_size=2048, embedding_size=params["dim"], feat_embed_dim=params["dim"],
        cf_model="lightgcn", **{k: v for k, v in params.items() if k != "dim"})
    pairs = {"user_embedding.weight": ours.user.weight, "item_id_embedding.weight": ours.item.weight,
             "item_image_trs": ours.proj["image"], "item_text_trs": ours.proj["text"],
             "v_hyper": ours.hyper["image"], "t_hyper": ours.hyper["text"]}
    theirs = {n: p for n, p in official.named_parameters() if p.requires_grad}  # frozen features excluded
    assert set(theirs) == set(pairs), sorted(theirs)
    assert len(list(ours.parameters())) == len(pairs)
    with torch.no_grad():  # our weights into MMRec's
        for name, p in pairs.items():
            theirs[name].copy_(p)

    with torch.no_grad():
        cge = propagate(ours.adj, torch.cat([ours.user.weight, ours.item.weight]), ours.n_ui_layers)
        report.check("cge (LightGCN)", _mmrec.maxdiff(cge, official.cge()), TOL)
        values, avail = ours.items()
        for m, short in (("image", "v"), ("text", "t")):
            report.check(f"mge {m}", _mmrec.maxdiff(ours._local(values[m], avail[m], m), official.mge(short)), TOL)
        gen = torch.Generator().manual_seed(3)
        i_mem = torch.rand(graph.n_items, params["hyper_num"], generator=gen)
        u_mem = torch.rand(graph.n_users, params["hyper_num"], generator=gen)
        ou, oi = ours._hypergraph(i_mem, u_mem, cge[graph.n_users:])
        tu, ti = official.hgnnLayer(i_mem, u_mem, cge[graph.n_users:])
        report.check("hypergraph rounds", max(_mmrec.maxdiff(ou, tu), _mmrec.maxdiff(oi, ti)), TOL)

    their_scores, our_scores = _mmrec.scores(official, ours, seed=EVAL_NOISE_SEED)
    report.check("(a) scores", _mmrec.maxdiff(our_scores, their_scores), TOL)
    report.info("    score scale (max |score|)", float(their_scores.abs().max()))
    batch = _mmrec.toy_batch(graph, 64, seed=7, distinct=True)
    their_loss, our_loss, _ = _mmrec.losses(official, ours, batch, seed=11)
    report.check("(b) loss", _mmrec.maxdiff(our_loss, their_loss) / float(their_loss.abs()), TOL, relative=True)
    report.info("    loss value", float(their_loss))
    report.check("(c) grads (max over params)", max(
        _mmrec.maxdiff(p.grad, theirs[n].grad) / float(theirs[n].grad.abs().max()) for n, p in pairs.items()),
        TOL, relative=True)
    report.info("    grads absolute (max over params)", max(
        _mmrec.maxdiff(p.grad, theirs[n].grad) for n, p in pairs.items()))
    report.info("    grad scale (max |grad|)", max(float(theirs[n].grad.abs().max()) for n in pairs))
    # a different seed gives different noise on both sides: the match is not an accident of zero noise
    torch.manual_seed(12)
    report.control("loss with another seed differs by", _mmrec.maxdiff(official.calculate_loss(batch), their_loss),
                   1e-4)


def main() -> int:
    lgmrec = _mmrec.load("lgmrec", "LGMRec", __doc__)
    report = _mmrec.Report()
    base = dict(dim=64, n_ui_layers=2, n_mm_layers=2, n_hyper_layer=1, hyper_num=4, keep_rate=0.5, alpha=0.3,
                cl_weight=1e-4, reg_weight=1e-6)
    run(lgmrec, report, "baby defaults (MMRec config)", base)
    run(lgmrec, report, "clothing-like, loss terms weighted up",
        dict(base, n_hyper_layer=2, hyper_num=64, keep_rate=0.2, alpha=0.2, cl_weight=0.5, reg_weight=0.1))
    run(lgmrec, report, "sports-like (authors' log), small dim",
        dict(base, dim=16, n_ui_layers=4, n_hyper_layer=4, keep_rate=0.4, alpha=0.6, cl_weight=1.0, reg_weight=1.0))
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
