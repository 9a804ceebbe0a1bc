"""Optional run tracking: each run record, once written, mirrored to an experiment tracker (MLflow).

Tracking reads finished records only (:mod:`mmbench.tracking.view` turns one into params, tags, metric
histories and artefacts; :mod:`mmbench.tracking.mlflow_store` writes them with the MLflow client), so
components, training and the runner know nothing of it. Nothing here is imported unless tracking is asked
for (``mmbench run --track mlflow``, ``MMBENCH_TRACKING=mlflow``, ``mmbench track``).
"""
