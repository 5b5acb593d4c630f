"""Batch jobs: one workflow over thousands of input rows, concurrent and resumable.

``run_batch`` (sync) and ``arun_batch`` (async) read rows from a JSON-lines or
CSV file as a stream, run the workflow once per row (``concurrency`` at a time,
locally or on a Dask cluster) and append one JSON line per row to the output
the moment the row finishes. Rerunning the same call resumes: rows already in
the output are skipped; with a durable state backend, interrupted rows go on
from their checkpoints and suspended rows from where they wait
(agentmap/batch/durable.py). See docs/batch.md.
"""

from agentmap.batch.errors import BatchError, OutputMismatchError
from agentmap.batch.inputs import InputRow, read_rows
from agentmap.batch.job import BatchApplication, BatchJob, arun_batch, run_batch
from agentmap.batch.local import run_rows
from agentmap.batch.summary import BatchSummary

__all__ = [
    "BatchApplication",
    "BatchError",
    "BatchJob",
    "BatchSummary",
    "InputRow",
    "OutputMismatchError",
    "arun_batch",
    "read_rows",
    "run_batch",
    "run_rows",
]
