"""``/v1/keys``: what ``live keys`` does, over HTTP, for keys of scope ``admin`` only; and
``/v1/rooms``, the rooms open on this server.

``POST`` makes a key and answers its printed form once (``key``); ``GET`` lists keys without any
secret (none is kept); ``DELETE /v1/keys/{id}`` revokes one and closes its open streams.
``GET /v1/rooms`` lists the open rooms (``live run --server URL --share``): their links, viewers, and
whether their sharer is connected.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from live.errors import ConfigError
from live.serve.deps import AdminKey, ApiError, ServerDep, error_responses
from live.serve.keys import ApiKey

router = APIRouter()
KEY_ID = r"^[0-9a-f]{12}$"


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    scope: Literal["stream", "admin"] = "stream"
    expires_days: float | None = Field(None, gt=0, le=36500)
    max_streams: int | None = Field(None, ge=1, le=10000)
    minutes_per_day: float | None = Field(None, ge=0, le=1440)

    @field_validator("expires_days", "max_streams", "minutes_per_day", mode="before")
    @classmethod
    def _numbers_not_booleans(cls, value):
        if isinstance(value, bool):  # JSON's true is no number (pydantic would take it as 1)
            raise ValueError("a number, not true or false")  # noqa: TRY004 - pydantic reports ValueErrors
        return value


class Usage(BaseModel):
    streams: int
    files: int
    audio_s: float


class KeyInfo(BaseModel):
    id: str
    name: str
    scope: str
    created: float
    expires: float | None
    revoked: float | None
    last_used: float | None
    max_streams: int | None
    minutes_per_day: float | None
    usage: Usage
    state: str


class NewKey(KeyInfo):
    key: str = Field(description="the key itself, shown this once: lv_<id>_<secret>")


class KeyList(BaseModel):
    data: list[KeyInfo]


class Revoked(BaseModel):
    id: str
    revoked: bool
    closed_streams: int


def _info(key: ApiKey) -> dict:
    return key.to_json()


@router.post("/v1/keys", status_code=201, response_model=NewKey, responses=error_responses(400, 401, 403),
             summary="make a key (admin)")
async def create_key(server: ServerDep, admin: AdminKey, request: KeyRequest) -> NewKey:
    try:
        key, token = await asyncio.to_thread(
            server.keys.create, request.name, request.scope, expires_days=request.expires_days,
            max_streams=request.max_streams, minutes_per_day=request.minutes_per_day)
    except ConfigError as exc:
        raise ApiError(400, "bad_key_request", str(exc)) from None
    return NewKey(**_info(key), key=token)


@router.get("/v1/keys", response_model=KeyList, responses=error_responses(401, 403), summary="list keys (admin)")
async def list_keys(server: ServerDep, admin: AdminKey) -> KeyList:
    keys = await asyncio.to_thread(server.keys.list_keys)
    return KeyList(data=[KeyInfo(**_info(k)) for k in keys])


@router.delete("/v1/keys/{key_id}", response_model=Revoked, responses=error_responses(401, 403, 404),
               summary="revoke a key and close its streams (admin)")
async def revoke_key(server: ServerDep, admin: AdminKey,
                     key_id: str = Path(pattern=KEY_ID, description="the id of the key (12 hex digits)")) -> Revoked:
    if not await asyncio.to_thread(server.keys.revoke, key_id):
        raise ApiError(404, "no_such_key", f"no key with id {key_id}")
    closed = server.close_streams_of(key_id, "revoked")  # on the event loop, where the streams run
    return Revoked(id=key_id, revoked=True, closed_streams=closed)



class RoomInfo(BaseModel):
    room_id: str
    key_id: str
    title: str
    path: str = Field(description="the viewers' page, /r/CODE on this server")
    viewers: int
    opened: float
    sharer_connected: bool
    languages: list[str]


class RoomList(BaseModel):
    data: list[RoomInfo]


@router.get("/v1/rooms", response_model=RoomList, responses=error_responses(401, 403),
            summary="the open rooms, their links and viewers (admin)")
async def list_rooms(server: ServerDep, admin: AdminKey) -> RoomList:
    return RoomList(data=[RoomInfo(**info) for info in server.rooms.listing()])
