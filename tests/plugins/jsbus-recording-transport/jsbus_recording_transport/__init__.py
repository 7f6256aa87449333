"""A third-party transport: jsbus's HTTP transport that appends each start command to a file
(``RECORDING_TRANSPORT_FILE``) before sending it. Used by the plugin tests."""
import json
import os

from jsbus.backends import TransportBackend
from jsbus.hookspecs import hookimpl
from jsbus_plugins.transport_http import HttpTransport


class RecordingTransport(HttpTransport):
    def start_execution(self, agent, command):
        with open(os.environ["RECORDING_TRANSPORT_FILE"], "a") as record:
            record.write(json.dumps({"agent": agent.instance_id,
                                     "execution-id": command.execution_id,
                                     "job": command.job}) + "\n")
        return super().start_execution(agent, command)


@hookimpl
def jsbus_register_transport(config):
    return [TransportBackend(name="recording", factory=RecordingTransport)]
