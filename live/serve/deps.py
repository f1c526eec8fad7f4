"""FastAPI dependencies: the running server, and the API key a request carries (``Authorization:
Bearer lv_…``). A missing, unknown, revoked or expired key is 401 with ``WWW-Authenticate: Bearer``;
a valid key without the scope asked for is 403. Errors have OpenAI's shape:
``{"error": {"message", "type", "code"}}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from live.serve.keys import ApiKey, KeyRefused, Scope
from live.serve.state import Server


class ApiError(Exception):
    """An HTTP error with a message for the client. ``param``: the form or body field at fault;
    ``close``: end the connection after the answer (a body left unread, or read only in part)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 kind: str = "invalid_request_error", *, param: str | None = None, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.kind = status, code, message, headers, kind
        self.param, self.close = param, close

    def response(self) -> JSONResponse:
        headers = dict(self.headers or {})
        if self.close:
            headers["Connection"] = "close"
        return JSONResponse({"error": {"message": self.message, "type": self.kind, "param": self.param,
                                       "code": self.code}}, status_code=self.status, headers=headers)


def storage_full() -> ApiError:
    """507: the server's disk (its --data-dir) is full."""
    return ApiError(507, "storage_full", "server storage full: the server cannot store this request now; "
                                         "try again later", {"Retry-After": "60"}, kind="server_error")


def validation_error(errors: list[dict]) -> ApiError:
    """422 in the error shape, from pydantic's (or FastAPI's) list of errors: each field and what is wrong."""
    fields = [".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header"))
              for e in errors]
    said = [f"{where or 'the body'}: {e.get('msg', 'not valid')}" for where, e in zip(fields, errors)]
    return ApiError(422, "invalid_value", "; ".join(said) or "the request is not valid",
                    param=next((f for f in fields if f), None))


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """What every error answers (the shape OpenAI's SDK reads)."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict:
    """OpenAPI entries for the errors a route may answer."""
    words = {400: "bad request (a file that is not audio)", 401: "missing or bad API key",
             403: "the key lacks the scope", 404: "no such thing", 408: "the body stalled", 413: "upload too large",
             422: "a field or body that is not valid (an unknown language or response_format, no file)",
             429: "over a limit (see Retry-After)", 503: "the model is not loaded yet (see Retry-After)",
             507: "the server's storage is full (see Retry-After)"}
    return {status: {"model": ErrorResponse, "description": words[status]} for status in statuses}


def get_server(request: Request) -> Server:
    return request.app.state.server


ServerDep = Annotated[Server, Depends(get_server)]
bearer = HTTPBearer(auto_error=False, description="a live API key: lv_<id>_<secret> (see `live keys create`)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _key(server: Server, credentials: HTTPAuthorizationCredentials | None, scope: Scope) -> ApiKey:
    try:
        key = server.keys.authenticate(credentials.credentials if credentials else None)
    except KeyRefused as exc:
        server.metrics.rejections.labels("unauthorized").inc()
        raise ApiError(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"},
                       kind="authentication_error") from None
    if not key.allows(scope):
        server.metrics.rejections.labels("forbidden").inc()
        raise ApiError(403, "forbidden", f"this key has scope {key.scope}; this needs an {scope} key",
                       kind="permission_error")
    return key


# Plain functions: FastAPI runs them in its thread pool, so SQLite never blocks the event loop.
def stream_key(server: ServerDep, credentials: Credentials) -> ApiKey:
    return _key(server, credentials, "stream")


def admin_key(server: ServerDep, credentials: Credentials) -> ApiKey:
    return _key(server, credentials, "admin")


StreamKey = Annotated[ApiKey, Depends(stream_key)]
AdminKey = Annotated[ApiKey, Depends(admin_key)]
