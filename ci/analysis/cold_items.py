"""Why no model recommends TikTok's cold items: where their test items rank, and what the negatives change.

Run from the repository root (about 5 minutes on 2 CPU cores, one thread):

    OMP_NUM_THREADS=1 python ci/analysis/cold_items.py [--recipe recipes/tiktok/kd-adapter-tuned.yaml] [--seed 0]

It trains the recipe's student without KD (the tuned LightGCN with its item adapter, the no-KD twin of
``kd-adapter-tuned``) twice, with the usual BPR negatives (``train.negatives: all``) and with negatives drawn from
warm items only (``warm``), and reports for each, on the test split: NDCG@20 and HR@100 of the cold and warm
slices (as the leaderboard computes them), the mean fraction of all items scored above the user's test item (0 =
top, 0.5 = a random ranking), and the mean norm of cold and warm item vectors. A third row keeps the first model
but replaces every cold item's vector by a ridge regression from its features to the warm items' vectors (a
content-to-embedding mapping, the classic cold-start baseline). The last rows keep it too, but give the cold items
the vectors of a content head trained for them (DropoutNet-style, Volkovs et al. 2017): a projection of the
features, the same form as the adapter, trained beside the first model (whose own loss is untouched: its
gradients never reach the model) with two BPR terms against the model's detached vectors, a content-only
positive against a full negative and a full positive against a content-only negative, so that its scores are
comparable to the warm items' scores, plus an L2 penalty λ on its batch vectors; one head per λ, all trained in
the same run and taken at the model's best epoch. Every row also reports NDCG@20 over all test pairs, so the
trade between cold and warm hits is visible. Writes ``results/analysis/cold-items-<dataset>.md``.

The heads became a student option, LightGCN's ``cold_head`` (trained the same way, with the serving choice made
on valid); this script keeps its own copy so that each head is read at the model's own best epoch, which is
what the analysis compares.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from mmbench.components._base import bpr_loss, l2
from mmbench.components.students._adapter import ItemAdapter
from mmbench.recipe.load import load_recipe
from mmbench.runner.evaluate import evaluate
from mmbench.runner.features import extract_all
from mmbench.runner.build import build_model
from mmbench.runner.run import prepare
from mmbench.runner.slices import evaluate_slices
from mmbench.runner.train import fit, seed_everything


def rank_fraction(score, users: np.ndarray, items: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Per test pair: the fraction of all items the model scores strictly above the pair's item."""
    out = []
    for s in range(0, len(users), batch):
        u = torch.as_tensor(users[s:s + batch]).long()
        i = torch.as_tensor(items[s:s + batch]).long()
        with torch.no_grad():
            sc = score(u)
        out.append((sc > sc.gather(1, i[:, None])).float().mean(1).numpy())
    return np.concatenate(out)


def row(label: str, users: torch.Tensor, items: torch.Tensor, split, warm: np.ndarray) -> str:
    def score(u: torch.Tensor) -> torch.Tensor:
        return users[u] @ items.T

    sl = evaluate_slices(score, split, metrics=["ndcg", "hr"], ks=[20, 100], batch_size=4096)
    every = evaluate(score, split, "test", metrics=["ndcg"], ks=[20], batch_size=4096)
    cold_pair = ~warm[split.test.item]
    frac = rank_fraction(score, split.test.user, split.test.item)
    norms = items.norm(dim=1).numpy()
    c, w = sl["cold"]["metrics"], sl["warm"]["metrics"]
    return (f"| {label} | {every['NDCG@20']:.4f} | {c['NDCG@20']:.4f} | {c['HR@100']:.4f} | {w['NDCG@20']:.4f} | "
            f"{w['HR@100']:.4f} | {frac[cold_pair].mean():.3f} | {frac[~cold_pair].mean():.3f} | {norms[~warm].mean():.2f} | "
            f"{norms[warm].mean():.2f} |")


def with_content_heads(model: torch.nn.Module, lambdas: list[float]) -> torch.nn.ModuleList:
    """Attach one content head per λ to the student, trained by the calibrated two-sided BPR terms on the
    model's detached final vectors (the model's own loss and gradients unchanged)."""
    heads = torch.nn.ModuleList()
    for _ in lambdas:
        head = ItemAdapter(model.adapter.items, model.dim, student="content head")
        for lin in head.proj.values():  # the adapter starts at zero (an offset); a head needs a direction
            torch.nn.init.xavier_uniform_(lin.weight)
        heads.append(head)
    model.add_module("content_heads", heads)  # saved with the best state, restored with it
    own_loss = model.loss

    def loss(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        total = own_loss(users, pos, neg)
        with torch.no_grad():
            u, i = model._propagate(model._ego_items())
        for lam, head in zip(lambdas, heads):
            c = head()
            total = total + bpr_loss(u[users], c[pos], i[neg]) + bpr_loss(u[users], i[pos], c[neg]) \
                + lam * l2(c[pos], c[neg])
        return total

    model.loss = loss
    return heads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/tiktok/kd-adapter-tuned.yaml")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ridge", type=float, default=10.0, help="ridge penalty of the content-to-embedding mapping")
    ap.add_argument("--head-l2", type=float, nargs="+", default=[0.0, 0.01, 0.1],
                    help="L2 penalties of the content heads, one head each")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    data, split, _ = prepare(recipe, log=lambda _: None)
    features = extract_all(recipe.encoders, data, log=lambda _: None)
    warm = np.zeros(split.n_items, bool)
    warm[split.graph.item] = True
    if warm.all():
        sys.exit(f"{recipe.dataset.name}: every item has a train interaction; there is no cold slice to analyse")
    lines = []
    kept = heads = None
    for mode in ("all", "warm"):
        seed_everything(args.seed)
        model, _ = build_model("student", recipe.student, recipe, split, features)
        if mode == "all":
            heads = with_content_heads(model, args.head_l2)
        train = recipe.train_for(recipe.student).model_copy(update={"negatives": mode})
        fitted = fit(model, split, train, recipe.eval, seed=args.seed, log=lambda _: None)
        served = model.folded() if callable(getattr(model, "folded", None)) else model
        served.eval()
        users, items = (t.detach() for t in served.embeddings())
        lines.append(row(f"negatives: {mode} (best epoch {fitted.best_epoch})", users, items, split, warm))
        kept = kept or (users, items)
    users, items = kept
    x = np.concatenate([features[m].values for m in sorted(features)], 1).astype(np.float64)
    x = (x - x[warm].mean(0)) / (x[warm].std(0) + 1e-8)
    x = np.concatenate([x, np.ones((len(x), 1))], 1)
    a, y = x[warm], items[warm].double().numpy()
    w = np.linalg.solve(a.T @ a + args.ridge * np.eye(a.shape[1]), a.T @ y)
    mapped = items.clone()
    mapped[~warm] = torch.as_tensor(x[~warm] @ w, dtype=items.dtype)
    lines.append(row(f"negatives: all, cold rows from a ridge map of the features (λ = {args.ridge:g})",
                     users, mapped, split, warm))
    for lam, head in zip(args.head_l2, heads):
        head.eval()
        with torch.no_grad():
            content = head()
        mapped = items.clone()
        mapped[~warm] = content[~warm]
        lines.append(row(f"negatives: all, cold rows from a content head (L2 λ = {lam:g})", users, mapped, split,
                         warm))
    n_cold = int((~warm[split.test.item]).sum())
    head = (f"# Cold items on {recipe.dataset.name}: {recipe.student.name} with its item adapter, no KD\n\n"
            f"`{' '.join(['python', *sys.argv])}` · recipe `{args.recipe}` · seed {args.seed} · "
            f"{n_cold} of {len(split.test.item)} test pairs cold, {int((~warm).sum())} of {split.n_items} items · "
            f"threads {torch.get_num_threads()}\n\n"
            "| model | NDCG@20 | cold NDCG@20 | cold HR@100 | warm NDCG@20 | warm HR@100 | items above the test "
            "item, cold | … warm | norm of cold item vectors | … warm |\n|---|---|---|---|---|---|---|---|---|---|\n")
    text = head + "\n".join(lines) + "\n\nItems above the test item: the mean fraction of the catalogue scored above it " \
        "(0 = top, 0.5 = random).\n"
    print(text)
    out = Path("results/analysis") / f"cold-items-{recipe.dataset.name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
