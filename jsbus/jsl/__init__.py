"""Job definitions: documents in, a validated ``jsbus.jsl.model.Job`` out, and back."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from jsbus.jsl.codec import job_from_document, job_to_document
from jsbus.jsl.model import Job
from jsbus.jsl.validation import ID_PATTERN as JOB_ID_PATTERN
from jsbus.jsl.validation import check, validate


def definition_from_document(document: Any) -> Job:
    """Read and validate the JSON form; JobDefinitionError names every problem."""
    job = job_from_document(document)
    validate(job)
    return job


def definition_with_warnings(document: Any, classpath: Sequence[str] = ()) -> tuple[Job, list[str]]:
    """``definition_from_document`` that also returns the warnings (``validate``'s), checking
    refs against ``classpath`` when one is given."""
    job = job_from_document(document)
    return job, validate(job, classpath)


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files(__name__).joinpath("schema.json").read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the JSON form, a fresh copy on each call."""
    return json.loads(_schema_text())


__all__ = ["JOB_ID_PATTERN", "Job", "check", "definition_from_document",
           "definition_with_warnings", "job_from_document", "job_to_document", "schema",
           "validate"]
