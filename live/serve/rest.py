"""The HTTP part: ``POST /v1/audio/transcriptions`` and ``GET /v1/models`` in OpenAI's shape (so the
``openai`` SDK works with ``base_url=http://host:14612/v1``), and the probes ``/healthz``,
``/readyz`` and ``/metrics``, which answer without a key and carry no secret and no transcript.

An uploaded file goes through the session core the way ``live transcribe`` does (file source,
partials off, decode batches), its decodes in the server's shared queue with the live streams'.
A ``model`` naming no loaded model selects the server's model, as other OpenAI-compatible speech
servers do; ``prompt`` and ``temperature`` are accepted and ignored.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from live.language import LANGUAGES
from live.captions import BatchOptions, Caption
from live.errors import InputError, LiveError, ModelError
from live.serve.deps import ApiError, ServerDep, StreamKey, error_responses
from live.serve.keys import ApiKey
from live.serve.limits import seconds_to_utc_midnight
from live.serve.metrics import CONTENT_TYPE
from live.serve.state import Server
from live.textnorm import join_text
from live.session.filejob import FileTranscription
from live.transcript import to_srt, to_vtt

router = APIRouter()
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


TRANSCRIPTION_RESPONSES = {
    200: {"model": Transcription, "description": "the transcript (text/plain for text, srt and vtt)",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    **error_responses(400, 401, 403, 413, 429, 503),
}


@router.post("/v1/audio/transcriptions", response_model=None, responses=TRANSCRIPTION_RESPONSES,
             summary="transcribe an audio or video file (OpenAI's shape)")
def transcriptions(
    server: ServerDep,
    key: StreamKey,
    file: Annotated[UploadFile, File(description="any audio or video file FFmpeg reads")],
    model: Annotated[str, Form(description="ignored: the server's model is used")] = "default",
    language: Annotated[Language, Form(description="auto: the server's default language")] = "auto",
    prompt: Annotated[str, Form(description="accepted and ignored")] = "",
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(description="accepted and ignored")] = 0.0,
) -> Response:
    if language == "auto":
        language = server.settings.language  # type: ignore[assignment]
    finals, duration = _transcribe(server, key, file, language)
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


def _transcribe(server: Server, key: ApiKey, upload: UploadFile, language: str) -> tuple[list[Caption], float]:
    """The file through the session core, with the limits of streams (it takes a stream slot)."""
    limit = server.limits.per_key_minutes(key.minutes_per_day)
    if limit and server.keys.used_today(key.id) >= limit * 60:
        server.metrics.rejections.labels("quota_exceeded").inc()
        raise ApiError(429, "quota_exceeded", f"this key's {limit:g} audio minutes for today are used up",
                       {"Retry-After": str(seconds_to_utc_midnight())}, kind="rate_limit_error")
    try:
        server.scheduler.wait_ready(timeout=0)
    except ModelError as exc:
        raise ApiError(503, "model_not_ready", str(exc), {"Retry-After": "5"}, kind="server_error") from None
    refused = server.slots.take(key.id, key.max_streams)
    if refused is not None:
        server.metrics.rejections.labels(refused).inc()
        raise ApiError(429, refused, "the server is full; try again in a moment" if refused == "server_full"
                       else "this key has as many streams and uploads in progress as it may",
                       {"Retry-After": "5"}, kind="rate_limit_error")
    stream = f"upload-{secrets.token_hex(4)}"
    server.metrics.uploads_active.inc()
    s = server.settings
    try:
        folder = server.config.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".upload") as tmp:
            shutil.copyfileobj(upload.file, tmp)
            tmp.flush()
            engine = server.scheduler.engine(stream, lambda: "file")
            job = FileTranscription(tmp.name, engine, language=language, batching=BatchOptions(), script=s.script,
                                    vad=s.vad_options())
            try:
                job.open()
            except InputError as exc:
                raise ApiError(400, "bad_audio", str(exc).replace(tmp.name, upload.filename or "the file")) from None
            try:
                finals = list(job)
            except LiveError as exc:
                raise ApiError(500, "recognition_failed", str(exc), kind="server_error") from None
            finally:
                server.metrics.audio_seconds.labels("file").inc(job.audio_s)
                server.keys.record_use(key.id, files=1, audio_s=job.audio_s)
        return finals, job.audio_s
    finally:
        server.metrics.uploads_active.dec()
        server.slots.give_back(key.id)
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
