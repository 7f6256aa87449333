"""CORS as the original did it, for the origins in ``bus.cors_origins`` only (the original took
one origin from ``ACCESS_CONTROL_ALLOW_ORIGIN``): answers to an allowed ``Origin`` carry
``Access-Control-Allow-Origin`` (that origin) and ``-Allow-Credentials: true``; a preflight
``OPTIONS`` is answered 200 with the methods and headers the API takes. No origin configured:
no CORS headers at all, and browsers keep the same-origin policy."""
from __future__ import annotations

import falcon

METHODS = "POST,GET,PUT,DELETE,OPTIONS"
HEADERS = "Content-Type,Accept,Authorization"


class Cors:
    def __init__(self, origins: list[str]):
        self.origins = {origin.rstrip("/") for origin in origins}

    def _allowed(self, req: falcon.Request) -> str | None:
        origin = (req.get_header("Origin") or "").rstrip("/")
        if origin and (origin in self.origins or "*" in self.origins):
            return origin
        return None

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        origin = self._allowed(req)
        if origin and req.method == "OPTIONS" and req.get_header(
                "Access-Control-Request-Method"):
            resp.status = falcon.HTTP_200
            resp.set_header("Access-Control-Allow-Methods", METHODS)
            resp.set_header("Access-Control-Allow-Headers", HEADERS)
            resp.set_header("Access-Control-Max-Age", "600")
            resp.complete = True  # a preflight: no resource runs

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource,
                         req_succeeded: bool) -> None:
        origin = self._allowed(req)
        if origin:
            resp.set_header("Access-Control-Allow-Origin", origin)
            resp.set_header("Access-Control-Allow-Credentials", "true")
            resp.append_header("Vary", "Origin")


def install(app: falcon.App, origins: list[str]) -> None:
    if origins:
        app.add_middleware(Cors(origins))
