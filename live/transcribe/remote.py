"""``live transcribe --server URL FILE...``: files transcribed by a ``live serve`` through its OpenAI-shaped
endpoint (with the ``openai`` SDK, as any client of it would), written into the same folder a local
``live transcribe`` leaves."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from live import __version__
from live.audio import media_duration
from live.captions import Caption
from live.errors import ConfigError, LiveError
from live.files import atomic_write
from live.timefmt import mmss
from live.transcript import TRANSCRIPT
from live.transcribe.job import OUTPUT_FILES, FileResult, open_writer, output_folder, to_markdown
from live.transcribe.notes import FileNotes
from live.transcribe.progress import Progress

TIMEOUT_S = 3600.0  # an hour-long lecture is decoded in one request


def api_base(url: str) -> str:
    """http(s)://host:port/v1 from a server address (ws(s):// works too)."""
    parts = urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--server {url!r} is not a server address; write http://HOST:14612 or ws://HOST:14612")
    return urlunsplit((scheme, parts.netloc, "/v1", "", ""))


def transcribe_remote(url: str, key: str, paths: Sequence[Path], folders: Sequence[Path], *, formats: Sequence[str],
                      language: str, progress: Progress) -> list[FileResult]:
    """Each file through the server; a file that fails is reported in its result and the others go on."""
    import openai

    client = openai.OpenAI(base_url=api_base(url), api_key=key, timeout=TIMEOUT_S, max_retries=2)
    results = []
    try:
        for path, folder in zip(paths, folders):
            results.append(_one(client, url, path, folder, formats, language, progress))
    finally:
        client.close()
    return results


def _one(client, url: str, path: Path, folder: Path, formats: Sequence[str], language: str,
         progress: Progress) -> FileResult:
    import openai

    began = time.monotonic()
    result = FileResult(path, folder, stated_s=media_duration(path))
    progress.message(f"live: {path.name}: sending to {url}…")
    try:
        with open(path, "rb") as fh:
            kwargs = {} if language == "auto" else {"language": language}
            answer = client.audio.transcriptions.create(file=fh, model="default", response_format="verbose_json",
                                                        **kwargs)
    except openai.AuthenticationError:
        raise LiveError(f"{url} refused the API key (401); check LIVE_SERVER_API_KEY or --api-key-file") from None
    except openai.APIConnectionError as exc:
        raise LiveError(f"cannot reach {url}: {exc.__cause__ or exc}") from None
    except openai.APIStatusError as exc:
        result.error = f"{path}: the server answered {exc.status_code}: {_message(exc)}"
        return result
    except OSError as exc:
        result.error = f"{path}: cannot read it: {exc.strerror or exc}"
        return result
    segments = getattr(answer, "segments", None) or []
    finals = [Caption("final", float(s.start), float(s.end), s.text, language=getattr(answer, "language", None),
                      emitted=float(s.end), index=i) for i, s in enumerate(segments)]
    meta = {"live_version": __version__, "started": datetime.now().isoformat(timespec="seconds"),
            "input": str(path.resolve()), "server": url, "language": language}
    writer = open_writer(folder, meta)
    for caption in finals:
        writer.add_final(caption)
    writer.close()
    if "md" in formats:
        atomic_write(folder / OUTPUT_FILES["md"], to_markdown(finals, f"Transcript of {path.name}"))
    for fmt, name in OUTPUT_FILES.items():
        if fmt not in formats and fmt != "jsonl":
            (folder / name).unlink(missing_ok=True)
    result.captions = len(finals)
    result.audio_s = float(getattr(answer, "duration", 0.0) or 0.0)
    result.wall_s = time.monotonic() - began
    return result


def run_remote(args, paths: list[Path], formats: tuple[str, ...], language: str, notes: FileNotes | None, progress: Progress,
               out: TextIO) -> int:
    """``live transcribe --server``'s body: the files through the server, the notes (if asked) written here."""
    from live.session.remote import server_api_key

    taken: set[Path] = set()
    folders = []
    for path in paths:
        folders.append(output_folder(path, args.output_dir, taken))
        taken.add(folders[-1])
    failed = 0
    try:
        results = transcribe_remote(args.server, server_api_key(args.api_key_file), paths, folders, formats=formats,
                                    language=language, progress=progress)
        for result in results:
            ok = result.error is None
            if ok and notes is not None:
                ok = notes.summarize(result, progress)
            if "jsonl" not in formats and result.folder is not None:
                (result.folder / TRANSCRIPT).unlink(missing_ok=True)
            if result.error:
                progress.message(f"live: error: {result.error}")
            else:
                progress.message(f"live: {result.path.name}: {result.captions} captions from {mmss(result.audio_s)} "
                                 f"of audio in {mmss(result.wall_s)} (on the server) → {result.folder}")
                print(result.folder, file=out, flush=True)
            failed += not ok
    finally:
        if notes is not None:
            notes.close()
    return 1 if failed else 0


def _message(exc) -> str:
    try:
        return exc.body["message"] if "message" in exc.body else str(exc.body)
    except (TypeError, KeyError):
        return str(exc)
