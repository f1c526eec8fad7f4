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
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.kind = status, code, message, headers, kind

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.kind, "code": self.code}},
                            status_code=self.status, headers=self.headers)


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    """What every error answers (the shape OpenAI's SDK reads)."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict:
    """OpenAPI entries for the errors a route may answer."""
    words = {400: "bad request (a file that is not audio, an unknown language)", 401: "missing or bad API key",
             403: "the key lacks the scope", 404: "no such thing", 413: "upload too large",
             429: "over a limit (see Retry-After)", 503: "the model is not loaded yet (see Retry-After)"}
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
