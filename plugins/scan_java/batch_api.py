"""The batch API a component implements, in both namespaces (``javax.batch``, ``jakarta.batch``).

Names are in the class file's internal form. The API itself is not on an application's
classpath (the runtime provides it), so what its abstract classes implement is written here.
"""
from __future__ import annotations

NAMESPACES = ("javax/batch/api/", "jakarta/batch/api/")

_KINDS = {
    "Batchlet": "batchlet",
    "Decider": "decider",
    "chunk/ItemReader": "item-reader",
    "chunk/ItemProcessor": "item-processor",
    "chunk/ItemWriter": "item-writer",
    "chunk/CheckpointAlgorithm": "checkpoint-algorithm",
    "partition/PartitionMapper": "partition-mapper",
    "partition/PartitionReducer": "partition-reducer",
    "partition/PartitionCollector": "partition-collector",
    "partition/PartitionAnalyzer": "partition-analyzer",
    "listener/JobListener": "listener",
    "listener/StepListener": "listener",
    **{f"chunk/listener/{name}Listener": "listener" for name in (
        "Chunk", "ItemRead", "ItemProcess", "ItemWrite", "SkipRead", "SkipProcess", "SkipWrite",
        "RetryRead", "RetryProcess", "RetryWrite")},
}

# The API's abstract classes -> the interface each implements.
_ABSTRACT_CLASSES = {
    "AbstractBatchlet": "Batchlet",
    "chunk/AbstractItemReader": "chunk/ItemReader",
    "chunk/AbstractItemWriter": "chunk/ItemWriter",
    "chunk/AbstractCheckpointAlgorithm": "chunk/CheckpointAlgorithm",
    "partition/AbstractPartitionAnalyzer": "partition/PartitionAnalyzer",
    "partition/AbstractPartitionReducer": "partition/PartitionReducer",
    "listener/AbstractJobListener": "listener/JobListener",
    "listener/AbstractStepListener": "listener/StepListener",
    "chunk/listener/AbstractChunkListener": "chunk/listener/ChunkListener",
    "chunk/listener/AbstractItemReadListener": "chunk/listener/ItemReadListener",
    "chunk/listener/AbstractItemProcessListener": "chunk/listener/ItemProcessListener",
    "chunk/listener/AbstractItemWriteListener": "chunk/listener/ItemWriteListener",
}

KIND_OF_INTERFACE = {namespace + name: kind
                     for namespace in NAMESPACES for name, kind in _KINDS.items()}
INTERFACE_OF_ABSTRACT_CLASS = {namespace + name: namespace + interface
                               for namespace in NAMESPACES
                               for name, interface in _ABSTRACT_CLASSES.items()}
NAMED_ANNOTATIONS = ("javax/inject/Named", "jakarta/inject/Named")
