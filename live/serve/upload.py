"""An upload read as it arrives: the multipart body of ``POST /v1/audio/transcriptions`` streamed
straight into the one file the transcription reads.

The route checks the key, the limits and the stream slot from the headers first; only then is the
body read, here. Nothing is buffered whole: the ``file`` part goes to ``<data dir>/uploads`` (mode
0600) chunk by chunk, the other fields (a few bytes each) stay in memory. The size limit counts the
body as it comes, so it holds for a chunked body with no length; a client that stalls longer than
``timeout_s`` between two chunks is cut off. Every problem is an ``ApiError``: 413 too large, 408
too slow, 422 a body that is not the multipart form asked for, 507 a full disk.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from live.errors import STORAGE_FULL
from live.serve.deps import ApiError, storage_full

FIELD_BYTES = 64 * 1024  # a form field (the prompt is the longest) holds at most this much
MAX_PARTS = 64
FLUSH_BYTES = 256 * 1024  # body bytes gathered before one parse-and-write step in a worker thread


@dataclass
class Upload:
    """What the body held: the file on disk (``path``, None if there was no file part) and the fields."""

    path: Path | None = None
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` body; 422 for any other body (JSON, raw bytes)."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(422, "invalid_body", "the body must be multipart/form-data with a `file` part "
                                            "(what the openai SDK sends)", param="file")
    return boundary


class _Parts:
    """The parser's callbacks: which part is being read, and where its bytes go."""

    def __init__(self, upload: Upload, folder: Path) -> None:
        self.upload, self.folder = upload, folder
        self.fd = -1
        self.parts = 0
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._data = bytearray()
        self._into_file = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end, "on_end": self.end}

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(422, "invalid_body", f"a form of at most {MAX_PARTS} parts is taken")
        self._headers, self._name, self._data, self._into_file = {}, None, bytearray(), False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def headers_finished(self) -> None:
        kind, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if kind != b"form-data" or name is None:
            raise ApiError(422, "invalid_body", "each part of the form needs Content-Disposition: form-data; name=…")
        self._name = name.decode("utf-8", "replace")
        if self._name == "file":
            if self.upload.path is not None:
                raise ApiError(422, "invalid_body", "one file per request", param="file")
            self.upload.filename = params.get(b"filename", b"").decode("utf-8", "replace")
            self.upload.path = self.folder / f"{secrets.token_hex(8)}.upload"
            self.fd = os.open(self.upload.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._into_file = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._into_file:
            view = memoryview(data)[start:end]
            while view:
                view = view[os.write(self.fd, view):]
            self.upload.size += end - start
        elif b"filename" not in self._headers.get(b"content-disposition", b""):
            if len(self._data) + end - start > FIELD_BYTES:
                raise ApiError(422, "invalid_value", f"the field {self._name!r} is longer than {FIELD_BYTES} bytes",
                               param=self._name)
            self._data += data[start:end]
        # another name's file is not ours to keep: its bytes are dropped as they come

    def part_end(self) -> None:
        if self._into_file:
            self.close_file()
        elif self._name is not None and b"filename" not in self._headers.get(b"content-disposition", b""):
            self.upload.fields[self._name] = self._data.decode("utf-8", "replace")

    def end(self) -> None:
        self.ended = True

    def close_file(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


Receive = Callable[[], Awaitable[dict]]


async def read_upload(receive: Receive, content_type: str | None, folder: Path, *, max_bytes: int,
                      timeout_s: float) -> Upload:
    """Stream the multipart body into ``folder``; the caller removes ``Upload.path`` when done with it
    (here it is removed on any error)."""
    boundary = multipart_boundary(content_type)
    upload = Upload()
    parts = _Parts(upload, folder)
    parser = MultipartParser(boundary, parts.callbacks())
    pending: list[bytes] = []
    held = seen = 0

    def feed(chunks: list[bytes], last: bool) -> None:
        try:
            for chunk in chunks:
                parser.write(chunk)
            if last:
                parser.finalize()
        except MultipartParseError as exc:
            raise ApiError(422, "invalid_body", f"the multipart body cannot be read: {exc}", param="file") from None

    done = False
    try:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _disk_error(exc) from None
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout_s)
            except asyncio.TimeoutError:
                raise ApiError(408, "request_timeout", f"the upload stalled for {timeout_s:g} s; send it again") from None
            if message["type"] == "http.disconnect":
                raise ApiError(400, "client_gone", "the client left before the upload ended")
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > max_bytes:
                raise too_large(max_bytes)
            more = message.get("more_body", False)
            if chunk:
                pending.append(chunk)
                held += len(chunk)
            if held >= FLUSH_BYTES or not more:
                batch, pending, held = pending, [], 0
                try:
                    await asyncio.to_thread(feed, batch, not more)
                except OSError as exc:
                    raise _disk_error(exc) from None
            if not more:
                done = True
                break
        if not parts.ended:
            raise ApiError(422, "invalid_body", "the multipart body ended early (no closing boundary)", param="file")
        if upload.path is None:
            raise ApiError(422, "missing_file", "the form has no `file` part", param="file")
        return upload
    except BaseException as exc:
        parts.close_file()
        upload.remove()
        if isinstance(exc, ApiError) and not done:
            exc.close = True  # the rest of the body is not read: the connection cannot carry another request
        raise
    finally:
        parts.close_file()


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"the file is larger than this server takes ({max_bytes / 1e6:g} MB)")


def _disk_error(exc: OSError) -> ApiError:
    if exc.errno in STORAGE_FULL:
        return storage_full()
    return ApiError(500, "storage_error", f"the server cannot store the upload: {exc.strerror or exc}",
                    kind="server_error")
