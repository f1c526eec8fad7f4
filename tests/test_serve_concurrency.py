"""Eight streams of different real speech at once through one shared model: each stream's finals are
its own audio's words (no crosstalk), and the queue's figures add up."""

from __future__ import annotations

import asyncio
import csv
import time

import httpx
import pytest
from serve_helpers import LiveServer, run, stream
from wer_helpers import wer

from live.audio import decode_file
from live.serve.limits import Limits

pytest.importorskip("faster_whisper", reason="the server tests decode with Whisper tiny.en (the `whisper` extra)")

CLIPS = ("en/wenet_librispeech-1995-1837-0001.flac", "en/pocketsphinx_librivox_0870.flac",
         "en/pocketsphinx_librivox_0890.flac", "en/pocketsphinx_librivox_0920.flac", "en/fw_stereo_diarization_L.flac",
         "en/fw_stereo_diarization_R.flac", "en/funasr_cs_example4_librispeech_1089-134686-0001.flac", "en/jfk.flac")


@pytest.fixture(scope="module")
def references(shared_audio):
    with open(shared_audio / "manifest.tsv", encoding="utf-8") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh, delimiter="\t")}
    return {name: (decode_file(shared_audio / name), rows[name]["reference"]) for name in CLIPS}


@pytest.mark.slow
def test_eight_concurrent_streams_get_their_own_words_only(references, tmp_path):
    from live.asr.whisper import WhisperEngine

    with LiveServer(tmp_path, WhisperEngine(threads=2), limits=Limits(streams_per_key=8)) as srv:
        token = srv.key()

        async def everyone():
            # Twice real time: faster than a lecture, slow enough that all eight are open together.
            return await asyncio.gather(*(stream(srv.ws, token, audio, frame_s=0.2, realtime=True, rate=16000,
                                                 start={"partials": True}, speed=2.0)
                                          for audio, _ in references.values()))

        results = run(everyone())
        deadline = time.monotonic() + 10  # each connection's last bookkeeping runs just after its close
        while "live_streams_active 0.0" not in (metrics := httpx.get(f"{srv.url}/metrics").text):
            assert time.monotonic() < deadline, "streams still counted as active"
            time.sleep(0.1)
    texts = [r.text for r in results]
    refs = [ref for _, ref in references.values()]
    assert all(r.close_code == 1000 for r in results)
    for i, (text, ref) in enumerate(zip(texts, refs)):
        errors, words = wer(ref, text)
        assert errors / words <= 0.3, (CLIPS[i], text)
        # Nearer to its own reference than to any other stream's: nothing of another stream leaked in.
        others = [wer(other, text)[0] / wer(other, text)[1] for j, other in enumerate(refs) if j != i]
        assert errors / words < min(others), (CLIPS[i], text)
    assert max(r.opened for r in results) < min(r.closed for r in results)  # all eight open at once
    ids = {r.messages[0]["session_id"] for r in results}
    assert len(ids) == 8
    assert 'live_streams_active 0.0' in metrics and "live_decode_queue_depth 0.0" in metrics
