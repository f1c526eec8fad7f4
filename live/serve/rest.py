"""The HTTP part: ``POST /v1/audio/transcriptions`` and ``GET /v1/models`` in OpenAI's shape (so the
``openai`` SDK works with ``base_url=http://host:14612/v1``), and the probes ``/healthz``,
``/readyz`` and ``/metrics``, which answer without a key and carry no secret and no transcript.

The key, the day's quota, the model and a stream slot are checked from the request's headers before
its body is read (``upload``); the file is then stored once, in ``<data dir>/uploads``, for as long
as its transcription runs. It goes through the session core the way ``live transcribe`` does (file
source, partials off, decode batches), its decodes in the server's shared queue with the live streams'.
A ``model`` naming no loaded model selects the server's model, as other OpenAI-compatible speech
servers do; ``prompt`` and ``temperature`` are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Literal, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from live.language import LANGUAGES
from live.captions import BatchOptions, Caption
from live.errors import InputError, LiveError, ModelError
from live.serve.deps import ApiError, ServerDep, StreamKey, error_responses, validation_error
from live.serve.keys import ApiKey
from live.serve.limits import seconds_to_utc_midnight
from live.serve.metrics import CONTENT_TYPE
from live.serve.state import Server
from live.serve.upload import Upload, multipart_boundary, read_upload, too_large
from live.textnorm import join_text
from live.session.filejob import FileTranscription
from live.transcript import to_srt, to_vtt

router = APIRouter()
UPLOAD_PATH = "/v1/audio/transcriptions"
ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Language = Literal["auto", "zh", "en", "yue", "ja", "ko"]
assert set(get_args(Language)) == set(LANGUAGES)
TEXT_FORMATS = {"text", "srt", "vtt"}


class Segment(BaseModel):
    """One caption of the file, in the fields OpenAI's verbose_json segments have."""

    id: int
    seek: int = 0
    start: float
    end: float
    text: str
    tokens: list[int] = []
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


class Transcription(BaseModel):
    """``json``: ``text`` alone; ``verbose_json``: with task, language, duration and segments."""

    text: str
    task: str | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "live"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "loading", "failed", "full"]
    model: str | None = None
    error: str | None = None
    streams: int
    capacity: int
    replicas: dict[str, int] | None = None  # with --ray: batches decoded by each replica


class UploadForm(BaseModel):
    """The form fields of a transcription request besides ``file`` (others are ignored, as OpenAI's SDK
    sends some this server has no use for)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("default", description="ignored: the server's model is used")
    language: Language = Field("auto", description="auto: the server's default language")
    prompt: str = Field("", description="accepted and ignored")
    response_format: ResponseFormat = "json"
    temperature: float = Field(0.0, description="accepted and ignored")


TRANSCRIPTION_RESPONSES = {
    200: {"model": Transcription, "description": "the transcript (text/plain for text, srt and vtt)",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    **error_responses(400, 401, 403, 408, 413, 422, 429, 503, 507),
}
# The body is read by the route itself (after the key and the slot), so its schema is declared here.
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "any audio or video file FFmpeg reads"},
                   **UploadForm.model_json_schema()["properties"]}}}}}}


@router.post(UPLOAD_PATH, response_model=None, responses=TRANSCRIPTION_RESPONSES, openapi_extra=UPLOAD_BODY,
             summary="transcribe an audio or video file (OpenAI's shape)")
async def transcriptions(request: Request, server: ServerDep, key: StreamKey) -> Response:
    # Everything that can refuse the request from its headers does so before a byte of the body is read.
    await asyncio.to_thread(_check_quota, server, key)
    try:
        server.scheduler.wait_ready(timeout=0)
    except ModelError as exc:
        raise ApiError(503, "model_not_ready", str(exc), {"Retry-After": "5"}, kind="server_error") from None
    max_bytes = int(server.limits.upload_mb * 1e6)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        server.metrics.rejections.labels("too_large").inc()
        raise too_large(max_bytes)
    multipart_boundary(request.headers.get("content-type"))
    refused = server.slots.take(key.id, key.max_streams)
    if refused is not None:
        server.metrics.rejections.labels(refused).inc()
        raise ApiError(429, refused, "the server is full; try again in a moment" if refused == "server_full"
                       else "this key has as many streams and uploads in progress as it may",
                       {"Retry-After": "5"}, kind="rate_limit_error")
    server.metrics.uploads_active.inc()
    upload: Upload | None = None
    try:
        try:
            upload = await read_upload(request.receive, request.headers.get("content-type"),
                                       server.config.data_dir / "uploads", max_bytes=max_bytes,
                                       timeout_s=server.limits.request_timeout_s)
        except ApiError as exc:
            if exc.status == 413:
                server.metrics.rejections.labels("too_large").inc()
            raise
        request.state.body_read = True
        try:
            form = UploadForm.model_validate(upload.fields)
        except ValidationError as exc:
            raise validation_error(exc.errors()) from None
        language = server.settings.language if form.language == "auto" else form.language
        finals, duration = await run_in_threadpool(_transcribe, server, key, upload, language)
    finally:
        if upload is not None:
            upload.remove()
        server.metrics.uploads_active.dec()
        server.slots.give_back(key.id)
    return _answer(finals, duration, form.response_format, language)


def _check_quota(server: Server, key: ApiKey) -> None:
    limit = server.limits.per_key_minutes(key.minutes_per_day)
    if limit and server.keys.used_today(key.id) >= limit * 60:
        server.metrics.rejections.labels("quota_exceeded").inc()
        raise ApiError(429, "quota_exceeded", f"this key's {limit:g} audio minutes for today are used up",
                       {"Retry-After": str(seconds_to_utc_midnight())}, kind="rate_limit_error")


def _answer(finals: list[Caption], duration: float, response_format: str, language: str) -> Response:
    text = join_text(c.text for c in finals)  # a space between Latin words, none between Chinese finals
    if response_format == "text":
        return PlainTextResponse(text + "\n" if text else "")
    if response_format == "srt":
        return PlainTextResponse(to_srt(finals))
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(finals))
    if response_format == "json":
        return JSONResponse({"text": text})
    detected = next((c.language for c in finals if c.language), None)
    segments = [Segment(id=i, start=round(c.start, 3), end=round(c.end, 3), text=c.text)
                for i, c in enumerate(c for c in finals if c.text)]
    body = Transcription(text=text, task="transcribe", language=detected or language, duration=round(duration, 3),
                         segments=segments)
    return JSONResponse(body.model_dump())


def _transcribe(server: Server, key: ApiKey, upload: Upload, language: str) -> tuple[list[Caption], float]:
    """The stored file through the session core, its decodes in the shared queue (it holds a stream slot)."""
    assert upload.path is not None
    stream = f"upload-{secrets.token_hex(4)}"
    s = server.settings
    try:
        engine = server.scheduler.engine(stream, lambda: "file")
        job = FileTranscription(upload.path, engine, language=language, batching=BatchOptions(), script=s.script,
                                vad=s.vad_options())
        try:
            job.open()
        except InputError as exc:
            raise ApiError(400, "bad_audio", str(exc).replace(str(upload.path), upload.filename or "the file")) from None
        try:
            finals = list(job)
        except LiveError as exc:
            raise ApiError(500, "recognition_failed", str(exc), kind="server_error") from None
        finally:
            server.metrics.audio_seconds.labels("file").inc(job.audio_s)
            server.record_use(key.id, files=1, audio_s=job.audio_s)
        return finals, job.audio_s
    finally:
        server.scheduler.forget(stream)


@router.get("/v1/models", response_model=ModelList, responses=error_responses(401), summary="the loaded model")
def models(server: ServerDep, key: StreamKey) -> ModelList:
    backend = server.scheduler.backend
    if backend is None:
        return ModelList(data=[])
    return ModelList(data=[Model(id=f"{backend.name}:{backend.model}", created=int(server.started))])


@router.get("/healthz", response_model=Health, summary="alive (no key needed)")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, summary="model loaded and capacity left (no key needed)",
            responses={503: {"model": Readiness, "description": "loading, failed, or full"}})
def readyz(server: ServerDep) -> JSONResponse:
    backend = server.scheduler.backend
    if server.model_ready():
        status = "ready" if server.slots.free > 0 else "full"
    else:
        status = "failed" if server.scheduler.error else "loading"
    body = Readiness(status=status, model=f"{backend.name}:{backend.model}" if backend else None,
                     error=server.scheduler.error, streams=len(server.streams), capacity=server.slots.free,
                     replicas=dict(getattr(backend, "replicas", {})) or None)
    return JSONResponse(body.model_dump(), status_code=200 if status == "ready" else 503)


@router.get("/metrics", summary="Prometheus metrics (no key needed)", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(server: ServerDep) -> Response:
    server.model_ready()
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)
