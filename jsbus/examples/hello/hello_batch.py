"""The example application of ``jsbus demo``: two batchlets, run by an agent in a child
process whose ``sys.path`` starts with this directory (the application's classpath)."""
import logging

from jsagent.api import Batchlet

log = logging.getLogger("hello_batch")


class Greet(Batchlet):
    """Greets the job parameter ``name``; the step property ``greeting`` says how."""

    greeting = "Hello"

    def process(self):
        print(f"{self.greeting}, {self.job_parameters.get('name', 'world')}!")
        return "GREETED"


class CountWords(Batchlet):
    """Counts the words of the step property ``text`` and logs the figure."""

    text = ""

    def process(self):
        words = len(self.text.split())
        log.info("%d words in %r", words, self.text)
        return "COUNTED" if words else "EMPTY"
