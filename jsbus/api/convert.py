"""``POST /jobs/convert``: a job document from one form to another (JSON, EDN, JSR-352 Job
XML): the body in the form its ``Content-Type`` names, the answer in the form ``Accept`` asks
for (JSON by default). Nothing is stored."""
from __future__ import annotations

import falcon

from jsbus.api.jobs import parse_job, write_document


class ConvertResource:
    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_document(self.bus, req, resp, parse_job(self.bus, req))
