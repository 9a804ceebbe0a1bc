"""``mmbench export``: a recorded model, rebuilt from its run's recipe and cached weights, as a served folder.

``find_record`` / ``pick_model`` choose the run and the model, ``export_model`` writes the folder (format:
:mod:`mmbench.serve.format`) once its tables reproduce the record's test metrics. Serving the folder needs
only :mod:`mmbench.serve`.
"""

from __future__ import annotations

from mmbench.export.locate import Located, find_record, pick_model
from mmbench.export.write import export_model

__all__ = ["Located", "export_model", "find_record", "pick_model"]
