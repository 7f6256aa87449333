"""Job definitions: documents in, a validated ``jsbus.jsl.model.Job`` out, and back."""
from __future__ import annotations

from typing import Any

from jsbus.jsl.codec import job_from_document, job_to_document
from jsbus.jsl.model import Job
from jsbus.jsl.validation import ID_PATTERN as JOB_ID_PATTERN
from jsbus.jsl.validation import validate


def definition_from_document(document: Any) -> Job:
    """Read and validate the JSON form; JobDefinitionError names every problem."""
    job = job_from_document(document)
    validate(job)
    return job


__all__ = ["JOB_ID_PATTERN", "Job", "definition_from_document", "job_from_document",
           "job_to_document", "validate"]
