"""What `mmbench run` prints once its records are written: per-model test metrics and one KD line per seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.results.record import RunRecord


def summary_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Compact per-model test metrics of freshly written records, for the terminal."""
    rows = []
    for path in paths:
        rec = RunRecord.model_validate_json(Path(path).read_bytes())
        for m in rec.models:
            skipped = bool((m.distill or {}).get("skipped"))  # the KD gate served the no-KD model instead
            rows.append({"seed": rec.seed, "role": m.role + (" (KD skipped)" if skipped else ""),
                         "component": m.component, **m.metrics["test"],
                         **({"latency_ms_p50": m.latency["latency_ms_p50"]} if m.latency else {}),
                         "params": m.size["params"]})
    return rows


def gate_text(gate: dict[str, Any] | None) -> str:
    """The KD gate's verdict for one seed: teacher vs no-KD student on valid, and what the run did."""
    if not gate:
        return "gate n/a (record from before the KD gate)"
    gain = gate["teacher_gain_valid"]
    values = (f"valid {gate['metric']} teacher {gate['teacher_valid']:.4f} vs no-KD {gate['baseline_valid']:.4f}"
              + ("" if gain is None else f", {gain * 100:+.1f}%"))
    if gate["passed"]:
        return f"gate passed ({values})"
    bar = "no-KD" + (f" {gate['min_gain'] * 100:+.1f}%" if gate["min_gain"] else "")
    done = "distilled anyway" if gate["distilled"] else "KD skipped: the student is the no-KD model"
    return f"⚠ gate: teacher ≤ {bar} on valid ({values}); {done}"


def kd_lines(paths: Sequence[Path]) -> list[str]:
    """One line per KD run: the gate, retention, gain over the no-KD student, ratios and the paired tests."""
    out = []
    for path in paths:
        rec = RunRecord.model_validate_json(Path(path).read_bytes())
        kd = rec.kd
        if not kd:
            continue
        metric = kd["tests"]["metric"] if kd.get("tests") else next(iter(kd["metrics"]))
        m = kd["metrics"].get(metric, {})

        def pct(v: float | None, sign: str = "") -> str:
            return "n/a" if v is None else f"{v * 100:{sign}.1f}%"

        def p_of(side: str) -> str:
            p = (kd.get("tests") or {}).get(side, {}).get("p")
            return "p n/a" if p is None else ("p<0.001" if p < 1e-3 else f"p={p:.3g}")

        ratio = " · ".join(f"{name} {kd[key]:.3g}×" for name, key in (
            ("params", "params_ratio"), ("latency", "latency_ratio"), ("latency with encoders", "latency_enc_ratio"))
            if kd.get(key) is not None)
        out.append(f"KD seed {rec.seed} ({kd['teacher']} → {kd['student']}, {metric}): {gate_text(kd.get('gate'))}; "
                   f"retention {pct(m.get('retention'))}, gain over no-KD {pct(m.get('gain'), '+')} "
                   f"(paired over users {p_of('vs_baseline')}; vs teacher {p_of('vs_teacher')}); "
                   f"student/teacher {ratio or 'n/a'}")
    return out
