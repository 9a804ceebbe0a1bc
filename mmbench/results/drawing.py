"""What every figure of results shares: the canvas, the atomic PNG write, colours per role and model labels.

matplotlib is optional (``pip install "mmbench[plot]"``) and imported only when a figure is drawn. Figures are
built on the Agg canvas directly, never through pyplot, so drawing changes no global backend or state.
Files are written atomically: a reader never sees a half-written PNG.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmbench.errors import MMBenchError
from mmbench.results.store import atomic_write_bytes

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies, and in greyscale by marker
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
# the same hue family for a role in every figure: teachers blue, students vermillion/orange, baselines green/purple
ROLE_COLOURS = {"teacher": ("#0072B2", "#56B4E9"), "student": ("#D55E00", "#E69F00"),
                "baseline": ("#009E73", "#CC79A7", "#000000")}
OTHER_COLOURS = ("#555555", "#999999")
MARKERS = {"teacher": "s", "student": "o", "baseline": "^"}
ROLE_ORDER = {"teacher": 0, "student": 1, "baseline": 2}
DPI = 150


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of ``width`` × ``height`` inches on its own Agg canvas, with the constrained layout.

    Raises:
        MMBenchError: matplotlib is not installed (the message names the extra to install).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MMBenchError(f'plots need matplotlib, which is not installed ({exc}); '
                           'fix: pip install "mmbench[plot]"') from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: Path) -> Path:
    """Render ``fig`` as a PNG (everything drawn included, white background) and write it atomically to ``path``.

    The PNG has a palette of 256 colours: a chart has few, so it looks the same and is 3-4 times smaller than
    full colour, which matters for the figures committed under ``results/``.
    """
    from PIL import Image  # a dependency of matplotlib, which drew fig

    buf = io.BytesIO()  # rendered in memory, then written atomically: a reader never sees half a PNG
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    buf.seek(0)
    with Image.open(buf) as image:
        out = io.BytesIO()
        image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return atomic_write_bytes(Path(path), out.getvalue())


def colour(i: int) -> str:
    """The ``i``-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def role_colour(role: str, shade: int = 0) -> str:
    """The colour of a model of ``role``; ``shade`` tells apart several models of one role in one figure."""
    colours = ROLE_COLOURS.get(role, OTHER_COLOURS)
    return colours[shade % len(colours)]


def role_name(row: dict[str, Any]) -> str:
    """What a model is in its recipe: its KD part when it has one (``KD student``, ``no-KD student``), else its role."""
    return str(row.get("kd") or row["role"])


def model_label(row: dict[str, Any], with_recipe: bool) -> str:
    """``role: component`` (``+ imputer`` when one is swapped in), prefixed by ``recipe ·`` when asked."""
    label = f"{role_name(row)}: {row['component']}"
    if row.get("imputer", "none") not in ("none", None, ""):
        label += f" + {row['imputer']}"
    return f"{row['recipe']} · {label}" if with_recipe else label


def several(rows: Sequence[dict[str, Any]], key: str) -> bool:
    """Whether ``rows`` hold more than one value of ``key``."""
    return len({r.get(key) for r in rows}) > 1


def default_title(prefix: str, rows: Sequence[dict[str, Any]]) -> str:
    """``prefix — dataset · split`` when the rows are of one dataset and split, else ``prefix``."""
    groups = sorted({f"{r.get('dataset')} · {r.get('split')}" for r in rows})
    return prefix + (f" — {groups[0]}" if len(groups) == 1 else "")


def safe_filename(name: str) -> str:
    """``name`` with every run of characters outside [A-Za-z0-9._-] replaced by one '-' (no path separators)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).lstrip(".") or "plot"
