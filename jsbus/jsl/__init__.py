"""Job definitions: documents in, validated ``JobDefinition`` out, and back."""
from jsbus.jsl.document import JOB_ID_PATTERN, definition_from_document, normalized_document

__all__ = ["JOB_ID_PATTERN", "definition_from_document", "normalized_document"]
