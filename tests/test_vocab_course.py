"""The course's vocabulary in a session (live.session.vocabulary): terms from --vocab and the slides, Whisper
biased once its model has loaded, every final corrected before it is saved — through the live path
(`live --input clip --vocab file`), with Whisper tiny.en on a clip espeak-ng speaks, with an engine that
cannot be biased (SenseVoice's place) on real recognizer output, and on clips where no term is said."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_helpers import gold_english_clips
from audio_helpers import DATA
from vocab_helpers import COURSE, PASSAGE, SIX
from live.asr.base import Transcription
from live.captions import Caption
from live.config import Settings
from live.session import SessionOptions, build_session
from live.vocab import VocabError, Vocabulary
from live.session.vocabulary import CourseVocabulary, course_vocabulary
from wer_helpers import normalize, wer

# tiny.en's own output for that passage without a vocabulary (real recognizer strings, as SenseVoice's
# misses would be), two Mandarin finals with homophones of terms, and ordinary speech.
HEARD = [
    ("In today's lecture we apply the Laplacia Harper-Rader to a heavy side step function.", "en"),
    ("And we compare to distributions with the co-ac labeler divergence.", "en"),
    ("And so my fellow Americans, ask not what your country can do for you.", "en"),
    ("我们对信号做付里叶变换", "zh"),
    ("大家好，欢迎来到这门课", "zh"),
]


def hits(text: str) -> list[str]:
    said = f" {normalize(text).replace(chr(39) + 's ', ' ')} "
    return [t for t in SIX if f" {normalize(t)} " in said]


def live(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "live", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


# --- where the terms come from ------------------------------------------------------------------------


def test_terms_from_the_file_and_the_slides_the_file_first(tmp_path):
    from slides_helpers import make_pptx

    deck = make_pptx(tmp_path / "hmm.pptx")
    vocab_file = tmp_path / "terms.txt"
    vocab_file.write_text("viterbi, 3\nLaplacian\n", encoding="utf-8")
    both = course_vocabulary(vocab_file, deck)
    texts = [t.text for t in both]
    assert texts[:2] == ["viterbi", "Laplacian"] and "Viterbi" not in texts  # the file's spelling wins
    assert "Baum-Welch" in texts and both.source == f"{vocab_file} + slides"
    slides_only = [t.text for t in course_vocabulary(None, deck)]
    assert "Viterbi" in slides_only and "Baum-Welch" in slides_only and "Laplacian" not in slides_only
    assert course_vocabulary(None, None) is None
    with pytest.raises(VocabError, match="no such file"):
        course_vocabulary(tmp_path / "missing.txt", None)


def test_a_bad_vocab_file_is_one_line_before_anything_starts(tmp_path):
    bad = tmp_path / "terms.txt"
    bad.write_text("Laplacian\tlots\n", encoding="utf-8")
    done = live("--input", str(DATA / "jfk.flac"), "--headless", "--vocab", str(bad), "--session-dir", str(tmp_path))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("live: error:") and "line 1: 'lots' after the tab is not a number" in line
    assert not any(tmp_path.glob("*/transcript.jsonl"))


# --- the corrector on finals, for an engine that cannot be biased ---------------------------------------


def test_a_corrected_final_carries_its_corrections_and_others_are_left_alone():
    course = CourseVocabulary(Vocabulary.from_terms(["Heaviside", "Laplacian", "傅里叶变换"]))
    heard = Caption("final", 1.0, 4.0, "a heavy side step function", language="en", index=3, emitted=4.5)
    fixed = course.revise(heard)
    assert fixed.text == "a Heaviside step function" and fixed.index == 3 and fixed.start == 1.0
    assert fixed.corrections == ({"from": "heavy side", "to": "Heaviside", "start_char": 2,
                                  "original_start_char": 2, "score": fixed.corrections[0]["score"]},)
    line = fixed.to_json()
    assert line["corrections"][0]["to"] == "Heaviside" and Caption.from_json(line) == fixed
    plain = Caption("final", 0.0, 2.0, "ask not what your country can do for you", language="en")
    assert course.revise(plain) is plain and "corrections" not in plain.to_json()
    partial = Caption("partial", 0.0, 1.0, "a heavy side", language="en")
    assert course.revise(partial) is partial  # partials are never saved: only finals are corrected


def test_a_corrector_that_breaks_never_costs_a_caption(caplog):
    course = CourseVocabulary(Vocabulary.from_terms(["Heaviside"]))

    class Broken:
        def correct(self, text, language):
            raise RuntimeError("a bug")

    course.corrector = Broken()  # type: ignore[assignment]
    heard = Caption("final", 0.0, 2.0, "a heavy side step", language="en")
    assert course.revise(heard) is heard and "kept as recognized" in caplog.text


class Scripted:
    """An engine that cannot be biased, as SenseVoice cannot: it returns real recognizer output, one
    string per segment in turn (no ``hotwords``, so the session only corrects its finals)."""

    name = "sensevoice"
    model = "scripted"

    def __init__(self, heard: list[tuple[str, str]]) -> None:
        self.heard = list(heard)
        self.calls = 0

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> Transcription:
        text, lang = self.heard[self.calls % len(self.heard)]
        self.calls += 1
        return Transcription(text=text, language=lang)


def speech_reel(tmp_path: Path, pieces: int) -> Path:
    """``pieces`` bits of real speech with a second of silence between them: one VAD segment each."""
    audio, rate = sf.read(DATA / "jfk.flac", dtype="float32")
    word = audio[int(0.0 * rate):int(1.2 * rate)]
    gap = np.zeros(rate, np.float32)
    path = tmp_path / "reel.flac"
    sf.write(path, np.concatenate([x for _ in range(pieces) for x in (word, gap)]), rate)
    return path


def test_the_session_corrects_finals_before_saving_and_marks_them_in_jsonl(tmp_path):
    engine = Scripted(HEARD)
    events: list[object] = []
    settings = Settings(input=speech_reel(tmp_path, len(HEARD)), fast=True, engine="sensevoice", vocab=COURSE,
                        session_dir=tmp_path / "sessions")
    session = build_session(settings, events.append, SessionOptions(notes="off"),
                            load_engine=lambda _s: (engine, "sensevoice (scripted)"))
    session.run()
    session.close()
    lines = [json.loads(x) for x in (session.folder / "transcript.jsonl").read_text().splitlines()]
    finals = [x for x in lines if x["type"] == "final"]
    assert len(finals) == len(HEARD) == engine.calls
    assert finals[0]["text"] == "In today's lecture we apply the Laplacian Harper-Rader to a Heaviside step function."
    assert [c["from"] for c in finals[0]["corrections"]] == ["Laplacia", "heavy side"]
    assert finals[1]["text"] == "And we compare to distributions with the Kullback-Leibler divergence."
    assert finals[1]["corrections"][0] | {"score": 0} == {
        "from": "co-ac labeler divergence", "to": "Kullback-Leibler divergence",
        "start_char": HEARD[1][0].index("co-ac"), "original_start_char": HEARD[1][0].index("co-ac"), "score": 0}
    assert finals[3]["text"] == "我们对信号做傅里叶变换"
    assert finals[3]["corrections"][0]["to"] == "傅里叶变换"
    for untouched in (2, 4):  # nothing matched: the words and the line as they were
        assert finals[untouched]["text"] == HEARD[untouched][0] and "corrections" not in finals[untouched]
    for f in finals:
        for c in f.get("corrections", ()):
            assert f["text"][c["start_char"]:c["start_char"] + len(c["to"])] == c["to"]
    shown = [e for e in events if isinstance(e, Caption) and e.kind == "final"]
    assert [c.text for c in shown] == [f["text"] for f in finals]  # the front end sees what was saved
    ready = next(e for e in events if getattr(e, "state", None) == "ready")
    assert f"vocabulary: {len(session.vocabulary.vocab)} terms" in ready.message
    assert "Whisper" not in ready.message and session.vocabulary.corrected == 3
    txt = (session.folder / "transcript.txt").read_text()
    assert "Kullback-Leibler divergence" in txt and "co-ac" not in txt


# --- Whisper tiny.en biased through the live path --------------------------------------------------------


def spoken(tmp_path: Path, text: str, speed: int = 150) -> Path:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} to speak the lecture passage (Debian: apt-get install "
                    "espeak-ng sox)")
    wav, flac = tmp_path / "passage.wav", tmp_path / "passage.flac"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(wav), text], check=True,
                   capture_output=True)
    # -R: sox's dither is random otherwise, and tiny.en's words change with the last bit
    subprocess.run(["sox", "-R", str(wav), "-r", "16000", "-c", "1", str(flac)], check=True, capture_output=True)
    return flac


@pytest.mark.slow
def test_live_input_with_vocab_gets_the_terms_right(tmp_path):
    pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")
    clip = spoken(tmp_path, PASSAGE)
    said = {}
    for name, extra in (("plain", []), ("vocab", ["--vocab", str(COURSE)])):
        done = live("--input", str(clip), "--fast", "--headless", "--json", "--engine", "whisper", "--language", "en",
                    "--session-dir", str(tmp_path / name), *extra)  # English: tiny.en
        assert done.returncode == 0, done.stderr
        finals = [f for f in map(json.loads, done.stdout.splitlines()) if f["type"] != "speaker"]
        assert len(finals) >= 2 and all(f["type"] == "final" for f in finals)  # VAD segments, as live
        said[name] = " ".join(f["text"] for f in finals)
        if name == "vocab":
            assert "vocabulary: 52 terms, 43 in Whisper's prompt" in done.stderr
    assert len(hits(said["plain"])) <= 1, said["plain"]
    assert len(hits(said["vocab"])) >= 4, said["vocab"]


@pytest.fixture(scope="module")
def whisper_pair():
    """Two tiny.en engines: one left plain, one the session biases (an engine keeps its bias)."""
    pytest.importorskip("faster_whisper", reason="the Whisper engine is the `whisper` extra")
    from live.asr.whisper import WhisperEngine

    return WhisperEngine(), WhisperEngine()


@pytest.mark.slow
def test_clips_without_the_terms_come_out_no_worse(tmp_path, shared_audio, whisper_pair):
    """The gold English clips (no course term is said) through the session, with and without the whole
    course vocabulary: at most one word in a hundred worse, and no correction made."""
    clips = gold_english_clips()
    gap = np.zeros(24000, np.float32)
    pieces, spans, t = [], [], 0.0
    for clip in clips:
        audio, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        pieces += [audio, gap]
        spans.append((t, t + len(audio) / 16000, clip.reference))
        t += (len(audio) + len(gap)) / 16000
    reel = tmp_path / "gold.flac"
    sf.write(reel, np.concatenate(pieces), 16000)
    results = {}
    for name, engine, vocab in (("plain", whisper_pair[0], None), ("vocab", whisper_pair[1], COURSE)):
        settings = Settings(input=reel, fast=True, engine="whisper", vocab=vocab, session_dir=tmp_path / name)
        session = build_session(settings, lambda _e: None, SessionOptions(notes="off"),
                                load_engine=lambda _s, e=engine: (e, "tiny.en"))
        session.run()
        session.close()
        lines = [json.loads(x) for x in (session.folder / "transcript.jsonl").read_text().splitlines()]
        finals = [x for x in lines if x["type"] == "final"]
        errors = words = 0
        for start, end, ref in spans:
            e, n = wer(ref, " ".join(f["text"] for f in finals if start - 0.5 <= f["start"] < end))
            errors, words = errors + e, words + n
        results[name] = (errors, words, sum(len(f.get("corrections", ())) for f in finals))
    assert whisper_pair[1].hotwords and not whisper_pair[0].hotwords
    (plain_errors, words, _), (vocab_errors, _, corrections) = results["plain"], results["vocab"]
    assert vocab_errors - plain_errors <= words / 100, results
    assert corrections == 0, results


def test_an_engine_switched_to_later_is_prepared_too():
    """A cold start captions with a quick engine, then switches to the fast one: both get the vocabulary."""

    class Biasable(Scripted):
        english_only = True

        def __init__(self, heard):
            super().__init__(heard)
            self.hotwords = None

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    quick, fast = Biasable(HEARD), Scripted(HEARD)
    course = CourseVocabulary(Vocabulary.from_terms(["Laplacian", "Heaviside", "傅里叶变换"]))
    loader = course.loader(lambda _status: (quick, "whisper tiny.en (while SenseVoice builds)",
                                            lambda _s: (fast, "sensevoice onnx int8")))
    engine, reason, then = loader(lambda _text: None)
    assert engine is quick and quick.hotwords == "Laplacian, Heaviside." and "2 in Whisper's prompt" in reason
    engine, reason = then(lambda _text: None)
    assert engine is fast and reason == "sensevoice onnx int8 · vocabulary: 3 terms"


def test_slides_alone_correct_but_do_not_bias_whisper(tmp_path):
    """Biasing makes Whisper decode each final twice; only an explicit --vocab asks for that."""
    from slides_helpers import make_pptx

    from live.session.vocabulary import CourseVocabulary

    deck = make_pptx(tmp_path / "deck.pptx")

    class Biasable:
        hotwords = None
        english_only = True

        def count_tokens(self, text):
            return len(text.split())

    slides_only = CourseVocabulary.load(None, deck)
    engine = Biasable()
    said = slides_only.prepare(engine)
    assert engine.hotwords is None and "Whisper's prompt" not in said and slides_only.corrector is not None
    vocab_file = tmp_path / "terms.txt"
    vocab_file.write_text("Laplacian\n")
    explicit = CourseVocabulary.load(vocab_file, deck)
    assert "in Whisper's prompt" in explicit.prepare(engine) and "Laplacian" in engine.hotwords
