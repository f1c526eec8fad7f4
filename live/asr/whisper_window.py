"""Whisper on the audio it is given, not on a 30 s window.

faster-whisper pads every decode to Whisper's 30 s window (3000 mel frames), and the encoder's cost is
set by that length, not by the speech: tiny.en took 0.49 s to encode 2 s of speech or 10, base ~1 s,
most of a caption's latency. CTranslate2's Whisper encoder takes a shorter window, so here the
features cover the audio and a little silence after it (``WindowOptions``), and the decoder attends to
that shorter encoding. Whisper was trained on 30 s windows only: the silence after the speech is what
tells it the speech has ended, and too short a window loses or invents words at the end, or loops
(base on English cut mid-word: "…health and zest. A cold dip restores health…" to the token cap). The
engine decodes such a loop again on the whole window (``WhisperEngine``). What each option costs and
gains on real clips is measured by benchmarks/whisper_window.py.

faster-whisper still does what it does well: the log-mel features, the tokenizer and the prompt
(hotwords, initial prompt), the suppressed tokens, the compression ratio. With no language given, a
multilingual model detects it on the same short encoding (faster-whisper encodes a second, padded
window for that). Audio longer than one window goes to faster-whisper's own long-form decode.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from live.errors import ConfigError

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("live.asr.whisper")

SAMPLE_RATE = 16000
HOP = 160  # samples per mel frame (10 ms)
FULL_FRAMES = 3000  # Whisper's 30 s window


@dataclass(frozen=True)
class WindowOptions:
    """How much of Whisper's 30 s window a decode encodes.

    Attributes:
        trim: encode the audio and ``pad_s`` of silence after it instead of the whole 30 s window
            (False: every decode padded to 30 s, as faster-whisper does).
        pad_s: silence (zero features, as faster-whisper pads) after the audio: Whisper takes it for
            the end of the speech.
        min_s: the shortest window, audio and pad together. Shorter windows cost little less to encode
            and strayed further from the padded decode: on the VAD segments of two talks base wrote 1.7 %
            of words otherwise and decoded 4 of 39 again on 30 s with 10 s; 1.8 % and 1 with 15 s; on the
            Mandarin clips 2 characters more wrong with 10 s, none with 15 s (tiny.en: the same at both).
        bucket_s: round the window up to a multiple of this (0: no rounding).
        max_s: audio longer than this is decoded in the whole 30 s window: trimming saves a third at
            most there, and with 26 s of dense speech in a 27 s window base stopped after its first
            sentence (file transcription decodes ~28 s batches; live segments end at 15 s).
        tokens_per_s: a decode writes at most this many tokens per second of audio, plus 16: a
            looping decode stops there instead of at 448 tokens. Lectures run at 3-4 tokens/s in
            English and ~6 in Mandarin (the gold clips' references).
    """

    trim: bool = True
    pad_s: float = 1.0
    min_s: float = 15.0
    bucket_s: float = 0.0
    max_s: float = 20.0
    tokens_per_s: float = 12.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.pad_s <= 10.0 or not 0.0 <= self.min_s <= 30.0 or not 0.0 <= self.bucket_s <= 30.0:
            raise ConfigError("Whisper window: pad_s in [0, 10], min_s and bucket_s in [0, 30] seconds")
        if self.tokens_per_s <= 0 or not 0.0 < self.max_s <= 30.0:
            raise ConfigError("Whisper window: tokens_per_s must be positive, max_s in (0, 30] seconds")

    def frames(self, content_frames: int) -> int:
        """The window (mel frames, even: the encoder halves it) for ``content_frames`` of audio."""
        if not self.trim or content_frames > self.max_s * 100:
            return FULL_FRAMES
        frames = content_frames + round(self.pad_s * 100)
        frames = max(frames, round(self.min_s * 100))
        if self.bucket_s > 0:
            step = round(self.bucket_s * 100)
            frames = -(-frames // step) * step
        frames += frames % 2
        return min(frames, FULL_FRAMES)


@dataclass(frozen=True)
class Decoded:
    """One window's decode with what the guards look at (faster-whisper's Segment has the same names)."""

    text: str
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    tokens: int


class WindowDecoder:
    """Decodes one window of audio with a loaded faster-whisper model (``decode``)."""

    def __init__(self, whisper: WhisperModel, options: WindowOptions | None = None) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.options = options or WindowOptions()
        self._whisper = whisper
        self._model = whisper.model
        self.multilingual = bool(self._model.is_multilingual)
        self._tokenizer_class = Tokenizer
        plain = Tokenizer(whisper.hf_tokenizer, self.multilingual, task="transcribe", language="en")
        self._suppress = list(get_suppressed_tokens(plain, [-1]))
        self.max_samples = (FULL_FRAMES - 1) * HOP  # longer: faster-whisper's long-form decode

    def fits(self, samples: np.ndarray) -> bool:
        """True when ``samples`` fit one window (else faster-whisper's long-form decode takes them)."""
        return samples.size <= self.max_samples

    def features(self, samples: np.ndarray, full: bool = False) -> np.ndarray:
        """The log-mel window for ``samples``: [1, 80, frames], zero-padded after the audio (to 30 s
        when ``full``)."""
        mel = self._whisper.feature_extractor(samples)  # pads 160 samples, as faster-whisper does
        content = mel[:, : max(1, mel.shape[-1] - 1)]  # the last frame is the pad's (faster-whisper drops it too)
        frames = FULL_FRAMES if full else self.options.frames(content.shape[-1])
        window = np.zeros((mel.shape[0], frames), dtype=np.float32)
        used = min(frames, content.shape[-1])
        window[:, :used] = content[:, :used]
        return window[None]

    def encode(self, samples: np.ndarray, full: bool = False) -> Any:
        import ctranslate2

        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(self.features(samples, full)))
        return self._model.encode(features, to_cpu=False)

    def detect(self, encoded: Any) -> tuple[str, float]:
        """The language a multilingual model hears in ``encoded`` and its probability."""
        token, probability = self._model.detect_language(encoded)[0][0]
        return token[2:-2], probability

    def decode(self, samples: np.ndarray, language: str | None, *, beam_size: int = 1,
               hotwords: str | None = None, initial_prompt: str | None = None,
               encoded: Any = None, full: bool = False) -> tuple[Decoded, str]:
        """Decode ``samples`` (one window) in ``language`` (None: detect it); the decode and its
        language. ``encoded``: the window already encoded (the same samples); ``full``: encode the
        whole 30 s window."""
        if encoded is None:
            encoded = self.encode(samples, full)
        if not self.multilingual:
            language = "en"
        elif language is None:
            language, probability = self.detect(encoded)
            log.debug("detected %s (%.2f) on %.1f s", language, probability, samples.size / SAMPLE_RATE)
        tokenizer = self._tokenizer_class(self._whisper.hf_tokenizer, self.multilingual, task="transcribe",
                                          language=language)
        previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
        prompt = self._whisper.get_prompt(tokenizer, previous, without_timestamps=True, hotwords=hotwords)
        seconds = samples.size / SAMPLE_RATE
        new_tokens = int(math.ceil(self.options.tokens_per_s * seconds)) + 16
        max_length = min(self._whisper.max_length, len(prompt) + new_tokens)
        result = self._model.generate(
            encoded, [prompt], beam_size=beam_size, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, max_length=max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=self._suppress, max_initial_timestamp_index=50,
        )[0]
        tokens = result.sequences_ids[0]
        from faster_whisper.transcribe import get_compression_ratio

        text = tokenizer.decode(tokens).strip()
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # faster-whisper's, length penalty 1
        return Decoded(text, result.no_speech_prob, avg_logprob, get_compression_ratio(text), len(tokens)), language
