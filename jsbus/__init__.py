"""jsbus: a control bus for batch jobs (JobStreamer, rebuilt in Python)."""

__version__ = "0.1.0"
