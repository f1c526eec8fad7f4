"""A voice as 256 numbers: Resemblyzer's GE2E voice encoder, run in numpy.

The network is three LSTM layers of 256 over 40-channel mel frames (25 ms windows every 10 ms; power,
not log), then a linear layer, ReLU and L2 norm. An utterance is cut into 1.6 s partials, 1.3 a
second, each embedded; the utterance's embedding is their normalized mean. The same steps as
Resemblyzer's own (``preprocess_wav`` then ``embed_utterance``), written here in numpy so a session
needs neither torch nor librosa for them: the mel filters are Slaney-scale triangles (librosa's
default), the STFT is centred with zero padding, and loud-enough audio is left as it is while quiet
audio is raised to -30 dBFS (the network was trained on that level). Silences over ~0.2 s are cut
with webrtcvad first, as Resemblyzer does, so a pause does not dilute a voice.

``embed`` gives one vector per utterance; ``embed_partials`` also gives each partial's vector and its
span in the original audio, for labelling an utterance that holds two voices by its majority.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.errors import ConfigError, ModelError

log = logging.getLogger("live.speakers")

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
TARGET_DBFS = -30.0
VAD_FRAME = 480  # 30 ms
VAD_SMOOTH = 8  # frames in the voiced-flag moving average
VAD_MAX_SILENCE = 6  # unvoiced frames kept on each side of voice
EMBEDDING_SIZE = 256


@dataclass
class EncoderOptions:
    """How utterances are cut into partials.

    Attributes:
        rate: partials per second of audio (at least 0.625, when 1.6 s partials just touch); more
            partials cost more and smooth more. 1.3 is Resemblyzer's default.
        min_coverage: a last partial that would hold less than this share of real audio (the rest zero
            padding) is dropped, unless it is the only one.
        trim_silences: cut silences longer than ~0.2 s before embedding (as Resemblyzer does).
    """

    rate: float = 1.3
    min_coverage: float = 0.75
    trim_silences: bool = True

    def __post_init__(self) -> None:
        if not SAMPLE_RATE / (HOP * PARTIAL_FRAMES) <= self.rate <= 20.0:
            raise ConfigError(f"speaker encoder rate must be between 0.625 and 20 partials a second (got {self.rate})")
        if not 0.0 < self.min_coverage <= 1.0:
            raise ConfigError(f"speaker encoder min_coverage must be in (0, 1] (got {self.min_coverage})")


@dataclass(frozen=True)
class Partials:
    """An utterance's embedding with its partials'.

    Attributes:
        embedding: the utterance's unit vector (256).
        vectors: one unit vector per partial, shape (n, 256).
        spans: each partial's (start, end) in seconds of the audio given (silences trimmed before
            embedding are counted back in), shape (n, 2).
        voiced: seconds of audio left once those silences are cut.
    """

    embedding: np.ndarray
    vectors: np.ndarray
    spans: np.ndarray
    voiced: float


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-scale, area-normalized triangular filters, shape (n_mels, n_fft // 2 + 1)."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), linear)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    bins = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(to_mel(0.0), to_mel(sr / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT))  # periodic Hann


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Power mel frames (frames, 40), float32: one per 10 ms plus one, windows centred on them."""
    padded = np.pad(audio.astype(np.float32), N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(padded, (count, N_FFT), (padded.strides[0] * HOP, padded.strides[0]))
    power = np.abs(np.fft.rfft(frames * _WINDOW.astype(np.float32), axis=1)) ** 2
    return (power @ _FILTERS.T.astype(np.float32)).astype(np.float32)


def raise_volume(audio: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Quiet audio brought up to ``target_dbfs`` (RMS); louder audio as it is."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    if rms <= 0.0:
        return audio
    change = target_dbfs - 20.0 * np.log10(rms)
    return audio if change < 0 else (audio * (10.0 ** (change / 20.0))).astype(np.float32)


def voiced_samples(audio: np.ndarray) -> np.ndarray:
    """Indices of the samples kept once silences over ~0.2 s are cut (webrtcvad, mode 3, smoothed)."""
    import webrtcvad

    usable = len(audio) - len(audio) % VAD_FRAME
    if usable == 0:
        return np.arange(len(audio))
    pcm = np.clip(np.round(audio[:usable] * 32767), -32768, 32767).astype("<i2")
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[i:i + VAD_FRAME].tobytes(), SAMPLE_RATE)
                      for i in range(0, usable, VAD_FRAME)], dtype=np.float64)
    padded = np.concatenate([np.zeros((VAD_SMOOTH - 1) // 2), flags, np.zeros(VAD_SMOOTH // 2)])
    smooth = np.convolve(padded, np.ones(VAD_SMOOTH) / VAD_SMOOTH, mode="valid")
    voiced = np.round(smooth).astype(bool)
    reach = VAD_MAX_SILENCE // 2  # each voiced frame keeps this many frames on either side
    grown = np.convolve(voiced.astype(np.int32), np.ones(2 * reach + 1, dtype=np.int32), mode="same") > 0
    keep = np.repeat(grown, VAD_FRAME)
    return np.flatnonzero(keep)


def partial_starts(n_samples: int, rate: float, min_coverage: float) -> list[int]:
    """The first mel frame of each 1.6 s partial covering ``n_samples`` (Resemblyzer's slicing)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / rate / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


class VoiceEncoder:
    """Embeds utterances (16 kHz float32 mono) with the weights in ``state`` (see ``weights.read_checkpoint``)."""

    def __init__(self, state: dict[str, np.ndarray], options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()
        order = np.r_[0:512, 768:1024, 512:768]  # torch's gates are i, f, g, o: put the three sigmoids first
        try:
            self._layers = []
            for layer in range(3):
                w_ih, w_hh = state[f"lstm.weight_ih_l{layer}"], state[f"lstm.weight_hh_l{layer}"]
                bias = state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]
                self._layers.append((np.ascontiguousarray(w_ih[order].T), np.ascontiguousarray(w_hh[order].T),
                                     bias[order]))
            self._linear = (np.ascontiguousarray(state["linear.weight"].T), state["linear.bias"])
        except KeyError as error:
            raise ModelError(f"the voice encoder's weights lack {error}: not Resemblyzer's checkpoint") from None
        except IndexError:
            raise ModelError("the voice encoder's weights have the wrong shapes: not Resemblyzer's checkpoint") from None
        if self._layers[0][0].shape != (N_MELS, 4 * 256) or self._linear[0].shape != (256, EMBEDDING_SIZE):
            raise ModelError("the voice encoder's weights have the wrong shapes: not Resemblyzer's checkpoint")

    @classmethod
    def load(cls, path: Path | None = None, options: EncoderOptions | None = None, **where) -> VoiceEncoder:
        """From ``path``, or from the checked file ``weights.encoder_file(**where)`` finds or fetches."""
        from live.speakers.weights import encoder_file, read_checkpoint

        return cls(read_checkpoint(path or encoder_file(**where)), options)

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """Unit embeddings (batch, 256) of mel batches (batch, frames, 40)."""
        with _one_blas_thread():
            return self._forward(mels.astype(np.float32))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        batch, steps, _ = x.shape
        for w_ih, w_hh, bias in self._layers:
            gates_in = x @ w_ih + bias  # (batch, steps, 1024), the input's share for every step at once
            h = np.zeros((batch, 256), np.float32)
            c = np.zeros((batch, 256), np.float32)
            out = np.empty((batch, steps, 256), np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                s = _sigmoid(g[:, :768])  # input, forget, output gates
                c = s[:, 256:512] * c + s[:, :256] * np.tanh(g[:, 768:])
                h = s[:, 512:] * np.tanh(c)
                out[:, t] = h
            x = out
        raw = np.maximum(h @ self._linear[0] + self._linear[1], 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norms, 1e-12)

    def embed_partials(self, audio: np.ndarray) -> Partials:
        """The utterance's embedding, each partial's, and where each partial lies in ``audio``."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(audio) == 0:
            raise ValueError("cannot embed empty audio")
        audio = raise_volume(audio)
        kept = voiced_samples(audio) if self.options.trim_silences else np.arange(len(audio))
        if len(kept) < HOP:  # nothing voiced: embed what there is rather than nothing
            kept = np.arange(len(audio))
        wav = audio[kept]
        starts = partial_starts(len(wav), self.options.rate, self.options.min_coverage)
        stop = (starts[-1] + PARTIAL_FRAMES) * HOP
        mel = mel_frames(np.pad(wav, (0, max(0, stop - len(wav)))))
        vectors = self.forward(np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts]))
        mean = vectors.mean(axis=0)
        first = np.array(starts) * HOP
        last = np.minimum(first + PARTIAL_FRAMES * HOP, len(wav)) - 1
        spans = np.stack([kept[np.minimum(first, len(wav) - 1)], kept[last] + 1], axis=1) / SAMPLE_RATE
        return Partials(mean / np.linalg.norm(mean), vectors, spans, len(wav) / SAMPLE_RATE)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """One unit vector (256) for an utterance."""
        return self.embed_partials(audio).embedding


_BLAS: list = []


def _one_blas_thread():
    """BLAS held to one thread while the encoder runs: its matrices are small (a few partials by 256),
    and OpenBLAS's threads on them, fighting the recognizer for two busy cores, made a 5 s
    utterance take 1.6 s instead of 0.1 s. The limit is process-wide for those milliseconds."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:
            _BLAS.append(None)
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)
