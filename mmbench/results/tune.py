"""A tuning study's outputs: its summary (md + json), a plot of the search, and the tuned recipe.

Plain data in, files out: the trials come from :meth:`~mmbench.runner.study.StudyHandle.trials` and the
driver sessions from its log. The best trial is the complete trial with the highest objective (the mean
**valid** metric over the study's seeds; ties: the lower trial number); test is never read here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tabulate import tabulate

from mmbench.recipe.sweep import Sweep
from mmbench.results.store import atomic_write_text


def ended_trials(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials that used the budget: complete, pruned or failed (an interrupted one was run again under a new
    number and does not count)."""
    return [t for t in trials if t["state"] in ("complete", "pruned", "fail") and not t["user_attrs"].get("interrupted")]


@dataclass(frozen=True)
class StudySummary:
    """A study's trials and sessions as plain data, with its budget and best trial."""

    sweep: Sweep
    trials: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    budget: dict[str, Any]

    @cached_property
    def others(self) -> dict[str, tuple[dict[str, Any] | None, str]]:
        """``search.use_tuned`` resolved once: role -> (tuned model block or None, where it comes from)."""
        from mmbench.results.tuned_recipe import tuned_others

        return tuned_others(self.sweep)

    @property
    def ended(self) -> list[dict[str, Any]]:
        """Trials that used the budget (interrupted ones were run again and do not count)."""
        return ended_trials(self.trials)

    @property
    def best(self) -> dict[str, Any] | None:
        done = [t for t in self.ended if t["state"] == "complete" and t["value"] is not None]
        return max(done, key=lambda t: (t["value"], -t["number"])) if done else None

    @property
    def complete(self) -> bool:
        return len(self.ended) >= self.budget["trials"]

    def counts(self) -> dict[str, int]:
        out = {"complete": 0, "pruned": 0, "fail": 0}
        for t in self.ended:
            out[t["state"]] += 1
        out["interrupted"] = sum(1 for t in self.trials if t["user_attrs"].get("interrupted"))
        return out

    def wall_s(self) -> float:
        return sum(s.get("wall_s", 0.0) for s in self.sessions)

    def curve(self) -> list[float | None]:
        """Best valid objective so far after each ended trial, in the order trials ended."""
        best, out = None, []
        for t in sorted(self.ended, key=lambda t: t["user_attrs"].get("ended_at", 0)):
            if t["state"] == "complete" and t["value"] is not None and (best is None or t["value"] > best):
                best = t["value"]
            out.append(best)
        return out


def summarize_study(sweep: Sweep, trials: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> StudySummary:
    """The summary of ``sweep``'s study from its trials and driver sessions."""
    from mmbench.recipe.sweep import compose_trial

    assert sweep.search is not None
    base = compose_trial(sweep.recipe_path, [], "budget-check")
    path = sweep.search.model_path
    spec = base.teacher if path == "teacher" else base.student if path == "student" else base.baselines[0]
    epochs: int = base.train_for(spec).epochs
    for key, dim in sweep.search.space.items():  # a searched epoch budget: its largest value is the cap
        if key.endswith("train.epochs"):
            epochs = max(int(v) for v in dim.corners())
    return StudySummary(sweep, trials, sessions, sweep.search.budget(epochs, len(sweep.seeds)))


def _params(params: dict[str, Any], space: Sequence[str], model: str = "") -> str:
    def short(key: str) -> str:  # student.params.reg -> reg, student.train.lr -> train.lr
        return key.removeprefix(f"{model}.").removeprefix("params.")

    return ", ".join(f"{short(k)}={v:.3g}" if isinstance(v, float) else f"{short(k)}={v}"
                     for k, v in params.items() if k in space)


def to_dict(summary: StudySummary, tuned: str | None) -> dict[str, Any]:
    """``summary.json``: the study, its budget, sessions, every trial and the best (valid only)."""
    s = summary.sweep
    assert s.search is not None
    best = summary.best
    return {"generated_by": "mmbench sweep (search)", "study": s.name, "sweep_file": str(s.path),
            "sweep_file_hash": s.file_hash, "recipe": str(s.recipe_path), "tuned_model": s.search.model_path,
            "component": s.search.component, "seeds": list(s.seeds),
            "space": {k: d.to_yaml() for k, d in s.search.space.items()}, "budget": summary.budget,
            "selection": {"split": "valid", "metric": s.metric, "role": s.role,
                          "rule": "highest mean valid metric over seeds among complete trials (ties: lower number)"},
            "ended": summary.counts(), "complete": summary.complete, "wall_s": summary.wall_s(),
            "sessions": summary.sessions, "best_so_far": summary.curve(),
            "best": None if best is None else {"number": best["number"], "value": best["value"],
                                               "params": best["params"],
                                               "recipe_trial": best["user_attrs"].get("recipe_trial")},
            "tuned_recipe": tuned,
            "use_tuned": {role: {"applied": block is not None, "from": note}
                          for role, (block, note) in summary.others.items()},
            "trials": [{k: t[k] for k in ("number", "state", "value", "params", "intermediate", "duration_s")}
                       | {"epochs": t["user_attrs"].get("epochs"), "error": t["user_attrs"].get("error"),
                          "attempts": t["user_attrs"].get("attempts", 1),
                          "recipe_trial": t["user_attrs"].get("recipe_trial"),
                          "interrupted": bool(t["user_attrs"].get("interrupted"))} for t in summary.trials]}


def budget_words(b: dict[str, Any]) -> str:
    """A budget in words: ``24 trials · TPE sampler (8 random first) · median pruner (...) · ≤ 200 epochs · ...``."""
    sampler = "random sampler" if b["sampler"] == "random" else \
        f"{b['sampler'].upper()} sampler ({b['sampler_startup']} random first)"
    pruner = "no pruner" if b["pruner"] == "none" else \
        f"{b['pruner']} pruner (after {b['pruner_startup']} trials, from epoch {b['warmup_epochs']})"
    return f"{b['trials']} trials · {sampler} · {pruner} · ≤ {b['epochs']} epochs · {b['seeds_per_trial']} seed(s) per trial"


def markdown(summary: StudySummary, tuned: str | None) -> str:
    """``summary.md``: budget, sessions (with trials per hour), the trial table and the best trial."""
    s = summary.sweep
    assert s.search is not None
    b, c = summary.budget, summary.counts()
    lines = [f"# Study `{s.name}`", *([s.description] if s.description else []),
             f"Tunes `{s.search.model_path}` ({s.search.component}) of `{s.recipe_path}` on valid {s.metric}, "
             f"seeds {', '.join(map(str, s.seeds))}.",
             f"**Budget**: {budget_words(b)}.",
             f"**Ended**: {len(summary.ended)}/{b['trials']} ({c['complete']} complete, {c['pruned']} pruned, "
             f"{c['fail']} failed; {c['interrupted']} interrupted and run again) in {summary.wall_s() / 60:.1f} min "
             "of driver wall time.",
             "**Space**: " + ", ".join(f"`{k}` {json.dumps(d.to_yaml())}" for k, d in s.search.space.items())]
    if summary.sessions:
        rows = [[i, x.get("backend"), x.get("workers"), x.get("cpus_per_trial"), x.get("trials_ended"),
                 f"{x.get('wall_s', 0):.0f}",
                 f"{3600 * x['trials_ended'] / x['wall_s']:.1f}" if x.get("wall_s") and x.get("trials_ended") else ""]
                for i, x in enumerate(summary.sessions)]
        lines.append(tabulate(rows, headers=["session", "backend", "workers", "cpus/trial", "trials", "wall s",
                                             "trials/h"], tablefmt="github"))
    rows = [[t["number"], t["user_attrs"].get("recipe_trial", ""),
             t["state"] + (" (interrupted)" if t["user_attrs"].get("interrupted") else "")
             + (f" ({t['user_attrs']['attempts']} attempts)" if t["user_attrs"].get("attempts", 1) > 1 else ""),
             "" if t["value"] is None else f"{t['value']:.4f}", t["user_attrs"].get("epochs") or "",
             f"{t['duration_s']:.0f}" if t["duration_s"] else "", _params(t["params"], s.search.space, s.search.model_path)]
            for t in summary.trials]
    lines.append(tabulate(rows, headers=["trial", "recipe", "state", f"valid {s.metric} ↑", "best epoch", "s",
                                               "params"],
                          tablefmt="github", disable_numparse=True))
    others = summary.others
    if others:
        lines.append("**Other models**: " + "; ".join(
            f"`{role}` from {note}" if block is not None else f"`{role}`: {note}"
            for role, (block, note) in others.items()) + ".")
    best = summary.best
    if best is not None:
        lines.append(f"**Best**: trial {best['number']}, valid {s.metric} {best['value']:.4f}: "
                     + _params(best["params"], s.search.space, s.search.model_path))
    if tuned:
        lines.append("Tuned recipe: `" + tuned + "` — run it with " + shlex.join(["mmbench", "run", tuned]))
    elif not summary.complete:
        lines.append(f"The budget is not used up yet: `mmbench sweep {s.path}` continues the study.")
    return "\n\n".join(lines) + "\n"


def write_study_summary(summary: StudySummary, folder: Path, tuned: str | None) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` into the study's folder, atomically."""
    md = atomic_write_text(folder / "summary.md", markdown(summary, tuned))
    js = atomic_write_text(folder / "summary.json",
                           json.dumps(to_dict(summary, tuned), indent=2, ensure_ascii=False, default=str) + "\n")
    return md, js


def plot_study(summary: StudySummary, path: Path) -> Path:
    """``search.png``: each trial's objective with the best so far (left), validation curves (right)."""
    from mmbench.results.drawing import new_figure, save_png

    s = summary.sweep
    fig = new_figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    order = sorted(summary.ended, key=lambda t: t["user_attrs"].get("ended_at", 0))
    xs = list(range(1, len(order) + 1))
    for state, marker, color, label in (("complete", "o", "tab:blue", "complete (objective)"),
                                        ("pruned", "x", "tab:grey", "pruned (last valid value)"),
                                        ("fail", "s", "tab:red", "failed")):
        pts = [(x, t["value"] if t["value"] is not None else
                (list(t["intermediate"].values())[-1] if t["intermediate"] else None))
               for x, t in zip(xs, order) if t["state"] == state]
        pts = [(x, y) for x, y in pts if y is not None]
        if pts:
            left.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=label, zorder=3)
    curve = summary.curve()
    left.step(xs, [c if c is not None else float("nan") for c in curve], where="post", color="tab:orange",
              label="best so far")
    left.set_xlabel("trials ended")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.set_xlim(0.5, max(summary.budget["trials"], len(order)) + 0.5)  # the whole budget: a study not ended shows it
    left.set_ylabel(f"valid {s.metric}")
    left.set_title(f"{s.name}: {len(order)}/{summary.budget['trials']} trials")
    left.legend(loc="best", fontsize=8)
    left.grid(alpha=0.3)
    if any(t["intermediate"] for t in order):
        _curves(right, summary, order)
    else:  # a closed-form model (EASE) has no curve: show the objective against its first parameter
        _by_param(right, summary, order)
    return save_png(fig, path)


def _curves(ax: Any, summary: StudySummary, order: list[dict[str, Any]]) -> None:
    for t in order:
        if t["intermediate"]:
            steps = sorted(t["intermediate"])
            best = summary.best is not None and t["number"] == summary.best["number"]
            ax.plot(steps, [t["intermediate"][k] for k in steps], color="tab:orange" if best else
                    "tab:grey" if t["state"] == "pruned" else "tab:blue", alpha=1.0 if best else 0.45,
                    lw=2.2 if best else 1.0, label="best trial" if best else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"valid {summary.sweep.metric}")
    ax.set_title("validation curves" + (" (grey: pruned)" if summary.counts()["pruned"] else ""))
    ax.grid(alpha=0.3)
    if summary.best is not None:
        ax.legend(loc="lower right", fontsize=8)


def _by_param(ax: Any, summary: StudySummary, order: list[dict[str, Any]]) -> None:
    from mmbench.search_space import LogUniform

    assert summary.sweep.search is not None
    key, dim = next(iter(summary.sweep.search.space.items()))
    pts = [(t["params"][key], t["value"]) for t in order if t["value"] is not None and key in t["params"]]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", zorder=3)
    if summary.best is not None and key in summary.best["params"]:
        ax.scatter([summary.best["params"][key]], [summary.best["value"]], color="tab:orange", s=80, zorder=4,
                   label="best trial")
        ax.legend(loc="best", fontsize=8)
    if isinstance(dim, LogUniform):
        ax.set_xscale("log")
    ax.set_xlabel(key.split(".")[-1])
    ax.set_ylabel(f"valid {summary.sweep.metric}")
    ax.set_title(f"objective by {key.split('.')[-1]} (no training curve)")
    ax.grid(alpha=0.3)


def studies_table(results_dir: Path, tablefmt: str = "github") -> str:
    """Every study under ``<results>/sweeps/`` (from its ``summary.json``): model, budget used, best valid value,
    wall time, tuned recipe. Valid values only: a study never reads test."""
    rows = []
    for path in sorted(Path(results_dir, "sweeps").glob("*/summary.json")):
        data = json.loads(path.read_text())
        if data.get("generated_by") != "mmbench sweep (search)":
            continue  # an explicit sweep's summary
        b, e = data["budget"], data["ended"]
        best = data.get("best") or {}
        rows.append([data["study"], f"{data['tuned_model']} ({data['component']})",
                     f"{e['complete'] + e['pruned'] + e['fail']}/{b['trials']}", e["complete"], e["pruned"], e["fail"],
                     f"{data['selection']['metric']} {best['value']:.4f}" if best else "",
                     f"{data['wall_s'] / 60:.1f}", data.get("tuned_recipe") or ("" if data["complete"] else "(not ended)")])
    if not rows:
        return f"No tuning studies under {Path(results_dir) / 'sweeps'}."
    return tabulate(rows, headers=["study", "tunes", "ended", "complete", "pruned", "failed", "best valid", "min",
                                   "tuned recipe"], tablefmt=tablefmt, disable_numparse=True)
