"""Partition artifacts of the engine tests: each prints its calls (``P <method> ...``)."""
import json
import logging

from jsagent.api import (Batchlet, PartitionAnalyzer, PartitionCollector, PartitionMapper,
                         PartitionPlan, PartitionReducer)

log = logging.getLogger("eapp.partition")


class Mapper(PartitionMapper):
    partitions = "3"
    threads = ""
    override = ""

    def map_partitions(self):
        print("P map_partitions", flush=True)
        count = int(self.partitions)
        return PartitionPlan(partitions=count, threads=int(self.threads or 0) or None,
                             properties=[{"n": str(i), "count": str(3 * (i + 1))}
                                         for i in range(count)],
                             partitions_override=self.override == "yes")


class DictMapper(PartitionMapper):
    def map_partitions(self):
        return {"partitions": 2, "properties": [{"n": "0"}, {"n": "1"}]}


class Collector(PartitionCollector):
    def collect_partition_data(self):
        context = self.step_context
        return {"partition": context.partition, "read": context.metrics["read-count"]}


class Analyzer(PartitionAnalyzer):
    def analyze_collector_data(self, data):
        print("P data " + json.dumps(data, sort_keys=True), flush=True)

    def analyze_status(self, batch_status, exit_status):
        print(f"P status {batch_status} {exit_status}", flush=True)


class SettingAnalyzer(Analyzer):
    """Sets the step's exit status from the partitions' exit statuses."""

    def analyze_status(self, batch_status, exit_status):
        seen = self.step_context.transient_user_data or []
        seen.append(exit_status)
        self.step_context.transient_user_data = seen
        self.step_context.exit_status = "+".join(sorted(seen))


class Reducer(PartitionReducer):
    def begin_partitioned_step(self):
        print("P begin", flush=True)

    def before_partitioned_step_completion(self):
        print("P before_completion", flush=True)

    def rollback_partitioned_step(self):
        print("P rollback", flush=True)

    def after_partitioned_step_completion(self, status):
        print(f"P after_completion {status}", flush=True)


class Work(Batchlet):
    """Sleeps ``seconds`` (or until stopped); fails in partition ``fail_partition``."""

    n = ""
    seconds = "0"
    fail_partition = ""

    def process(self):
        log.info("partition %s working", self.n)
        self.job_context.wait_for_stop(float(self.seconds))
        if self.fail_partition != "" and self.n == self.fail_partition:
            raise RuntimeError(f"partition {self.n} broke")
        return f"DONE-{self.n}"
