"""The jsbus agent (import name ``jsagent``): runs executions in child processes."""
