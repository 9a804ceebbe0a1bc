"""The Optuna study behind a search sweep: the one object that reads and writes its storage.

:class:`StudyHandle` asks for trials, takes the validation curve for the pruner and records how each trial
ended. The local backend calls it directly; the Ray backend runs it as an actor on the driver's node, so
workers anywhere in the cluster report to it and never need the storage themselves.

Determinism and resumption. Trial *i* (counting every trial asked, except interrupted ones) is sampled by a
sampler seeded with ``(sampler.seed, i)``, so a study run one trial at a time asks the same parameters
whatever happened before, given the same finished trials. A trial left ``RUNNING`` by a driver that died
is failed, marked ``interrupted`` and enqueued again with the same parameters (and the same trial recipe
name, so its training resumes from its last checkpoint): a study stopped and continued later, on this
machine or another one with the same storage, ends with the trials an uninterrupted one would have.
"""

from __future__ import annotations

import time
from typing import Any

from mmbench.recipe.search import PrunerSpec, SamplerSpec, Search

#: a sampler's seed for trial i: far apart for different study seeds and trial indices
_SEED_STRIDE = 100_003


def make_sampler(spec: SamplerSpec, index: int) -> Any:
    """The sampler that asks trial ``index``: TPE or random, seeded by the study seed and the index."""
    import optuna

    seed = spec.seed * _SEED_STRIDE + index
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials)


def make_pruner(spec: PrunerSpec) -> Any:
    """Optuna's median or percentile pruner over the validation curve (steps are epochs), or none."""
    import optuna

    if spec.name == "none":
        return optuna.pruners.NopPruner()
    if spec.name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_epochs)
    return optuna.pruners.PercentilePruner(spec.percentile, n_startup_trials=spec.startup_trials,
                                           n_warmup_steps=spec.warmup_epochs)


class StudyHandle:
    """One search sweep's Optuna study (maximising the valid metric): ask, report, tell, recover."""

    def __init__(self, storage: str, name: str, search: Search) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.search = search
        self.study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                         load_if_exists=True, pruner=make_pruner(search.spec.pruner))
        self._live: dict[int, Any] = {}  # trial number -> optuna.Trial being run
        self._steps: dict[int, set[int]] = {}
        self._last: dict[int, int] = {}  # the latest step a trial reported
        self._attempts: dict[int, int] = {}  # > 1: a worker or node died and Ray ran the trial again
        self._replaying: dict[int, bool] = {}

    def _trials(self, *states: Any) -> list[Any]:
        return [t for t in self.study.get_trials(deepcopy=False, states=states or None)
                if not t.user_attrs.get("interrupted")]

    def counted(self) -> int:
        """Trials that used the budget: complete, pruned or failed (interrupted ones are run again)."""
        from optuna.trial import TrialState

        return len(self._trials(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))

    def recover(self) -> list[int]:
        """Fail the trials a dead driver left running, mark them interrupted and enqueue their params again."""
        from optuna.trial import TrialState

        out = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number not in self._live:
                self.interrupt(t.number, t)
                out.append(t.number)
        return out

    def interrupt(self, number: int, frozen: Any = None) -> None:
        """A trial that did not end (its driver or node died): run its params again as a new trial."""
        from optuna.trial import TrialState

        t = frozen or self.study.get_trials(deepcopy=False)[number]
        self.study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)  # noqa: SLF001
        self.study.tell(number, state=TrialState.FAIL)
        self._live.pop(number, None)
        self.study.enqueue_trial(t.params, user_attrs={"slot": t.user_attrs.get("slot", number), "retry_of": number},
                                 skip_if_exists=False)

    def ask(self) -> tuple[int, dict[str, Any], int]:
        """A new trial: its number, its params by dotted recipe path, and its slot: the index that seeds its
        sampler and names its recipe (``t<slot>``), the same in a resumed study as in an uninterrupted one
        (an interrupted trial's re-run keeps its slot)."""
        index = len([t for t in self._trials() if "slot" in t.user_attrs])  # asked before, not interrupted
        self.study.sampler = make_sampler(self.search.spec.sampler, index)
        trial = self.study.ask()
        params = {path: dim.suggest(trial, path) for path, dim in self.search.space.items()}
        if "slot" not in trial.user_attrs:
            trial.set_user_attr("slot", index)
        trial.set_user_attr("started_at", time.time())
        self._live[trial.number] = trial
        self._steps[trial.number] = set()
        return trial.number, params, int(trial.user_attrs["slot"])

    def report(self, number: int, step: int, value: float) -> bool:
        """Record the validation value at ``step`` (an epoch); True when the pruner says stop."""
        trial = self._live[number]
        last = self._last.get(number)
        if last is not None and step <= last and not self._replaying.get(number):  # a new attempt starts over
            self._attempts[number] = self._attempts.get(number, 1) + 1
            self._replaying[number] = True
        if last is None or step > last:
            self._last[number], self._replaying[number] = step, False
        if step not in self._steps[number]:  # a resumed trial reports its restored curve again
            trial.report(value, step)
            self._steps[number].add(step)
        return bool(trial.should_prune())

    def tell(self, number: int, state: str, value: float | None = None, attrs: dict[str, Any] | None = None) -> None:
        """End a trial: ``complete`` (with its objective), ``pruned`` or ``fail``; ``attrs`` are kept with it."""
        from optuna.trial import TrialState

        trial = self._live.pop(number)
        attempts = self._attempts.pop(number, 1)
        for key, item in {**(attrs or {}), "ended_at": time.time(), "attempts": attempts}.items():
            trial.set_user_attr(key, item)
        states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}
        self.study.tell(trial, value if state == "complete" else None, state=states[state])

    def log_session(self, info: dict[str, Any]) -> None:
        """Record this driver session (backend, workers, wall seconds, trials ended) in the study's log,
        replacing the entry of the same ``started_at``: called after every trial, so a killed session keeps
        the time it spent up to its last ended trial."""
        sessions = [x for x in self.study.user_attrs.get("sessions", []) if x.get("started_at") != info["started_at"]]
        self.study.set_user_attr("sessions", sorted([*sessions, info], key=lambda x: x.get("started_at", 0)))

    def trials(self) -> list[dict[str, Any]]:
        """Every trial as plain data, for the summary."""
        return [{"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": t.params,
                 "intermediate": {int(k): v for k, v in t.intermediate_values.items()},
                 "user_attrs": dict(t.user_attrs),
                 "duration_s": t.duration.total_seconds() if t.duration else None}
                for t in self.study.get_trials(deepcopy=False)]

    def sessions(self) -> list[dict[str, Any]]:
        """The driver sessions logged so far."""
        return list(self.study.user_attrs.get("sessions", []))
