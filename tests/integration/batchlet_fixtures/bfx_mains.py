"""Functions for the python-main batchlet tests (this directory goes on sys.path)."""
import logging
import sys

log = logging.getLogger("bfx")


def count(argv):
    """Prints its arguments; the exit status says how many there were."""
    print("args:", " ".join(argv))
    log.info("sys.argv[1:] = %s", sys.argv[1:])
    return f"COUNTED-{len(argv)}"


def no_args():
    """Takes no parameter: returns None (exit status COMPLETED)."""
    log.info("no args, sys.argv[1:] = %s", sys.argv[1:])


def bail(argv):
    """Leaves with sys.exit(4)."""
    print("bailing out")
    raise SystemExit(4)


def bail_with_message():
    sys.exit("something went wrong")


def wait_for_stop(argv, stop_event):
    """Waits until the batchlet is stopped (at most 30 s)."""
    log.info("waiting for stop")
    stopped = stop_event.wait(30)
    log.info("stop event set: %s", stopped)
