"""SenseVoice's feature front end in numpy + kaldi-native-fbank, so ONNX decoding needs no torch.

It reproduces funasr's ``WavFrontend`` step for step (with dither 0, the only deterministic
setting): waveform ×32768 → Kaldi fbank (80 mels, hamming, 25/10 ms, energy_floor 0, snip_edges)
→ low frame rate stacking (LFR m=7, n=6, funasr's edge padding) → CMVN from ``am.mvn``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.audio import SAMPLE_RATE
from live.errors import ModelError

log = logging.getLogger("live.asr.frontend")


@dataclass(frozen=True)
class FrontendOptions:
    """What ``frontend_conf`` in a SenseVoice ``config.yaml`` says.

    Attributes:
        fs: sample rate the model expects, in Hz.
        n_mels: mel bins per fbank frame.
        frame_length_ms: analysis window length.
        frame_shift_ms: hop between frames.
        window: window type, as Kaldi names it.
        lfr_m: fbank frames stacked into one LFR frame.
        lfr_n: fbank frames advanced between LFR frames.
    """

    fs: int = SAMPLE_RATE
    n_mels: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window: str = "hamming"
    lfr_m: int = 7
    lfr_n: int = 6

    @classmethod
    def from_config(cls, conf: dict) -> FrontendOptions:
        """Read the ``frontend_conf`` mapping of a funasr config (unknown keys are ignored)."""
        base = cls()
        return cls(
            fs=int(conf.get("fs", base.fs)),
            n_mels=int(conf.get("n_mels", base.n_mels)),
            frame_length_ms=float(conf.get("frame_length", base.frame_length_ms)),
            frame_shift_ms=float(conf.get("frame_shift", base.frame_shift_ms)),
            window=str(conf.get("window", base.window)),
            lfr_m=int(conf.get("lfr_m", base.lfr_m)),
            lfr_n=int(conf.get("lfr_n", base.lfr_n)),
        )


def load_cmvn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a Kaldi nnet-style ``am.mvn``: the ``<AddShift>`` and ``<Rescale>`` vectors.

    Features are normalised as ``(x + shift) * scale``, as funasr does.
    """
    try:
        tokens = path.read_text(encoding="utf-8").split()
    except OSError as err:
        raise ModelError(f"cannot read the CMVN file {path} ({err.strerror}): download the model again") from err

    def vector_after(tag: str) -> np.ndarray:
        # The vector is the first "[ ... ]" after the tag; it may span lines.
        try:
            start = tokens.index("[", tokens.index(tag)) + 1
            end = tokens.index("]", start)
            return np.array(tokens[start:end], dtype=np.float32)
        except ValueError as err:
            raise ModelError(
                f"{path} has no {tag} vector, so it is not a SenseVoice am.mvn: download the model again"
            ) from err

    shift, scale = vector_after("<AddShift>"), vector_after("<Rescale>")
    if shift.shape != scale.shape:
        raise ModelError(f"{path} is damaged (shift and scale differ in size): download the model again")
    return shift, scale


def apply_lfr(feats: np.ndarray, m: int, n: int) -> np.ndarray:
    """Stack ``m`` frames every ``n`` frames, padding the edges like funasr's ``apply_lfr``.

    The first frame is repeated ``(m - 1) // 2`` times in front, and the last frame as often as the
    final window needs, so that there are ``ceil(T / n)`` output frames.
    """
    frames, dim = feats.shape
    if frames == 0:
        return np.zeros((0, m * dim), dtype=np.float32)
    out_frames = math.ceil(frames / n)
    left = (m - 1) // 2
    need = (out_frames - 1) * n + m
    right = max(0, need - left - frames)
    padded = np.concatenate([np.repeat(feats[:1], left, axis=0), feats, np.repeat(feats[-1:], right, axis=0)])
    index = np.arange(out_frames)[:, None] * n + np.arange(m)[None, :]
    return padded[index].reshape(out_frames, m * dim).astype(np.float32, copy=False)


class Frontend:
    """Waveform (float32, 16 kHz, [-1, 1]) → SenseVoice encoder input features [T, n_mels × lfr_m]."""

    def __init__(self, cmvn_file: Path, options: FrontendOptions | None = None) -> None:
        self.options = options or FrontendOptions()
        self.shift, self.scale = load_cmvn(cmvn_file)
        dim = self.options.n_mels * self.options.lfr_m
        if self.shift.size != dim:
            raise ModelError(
                f"{cmvn_file} has dimension {self.shift.size} but config.yaml makes {dim}: "
                "the folder mixes two models, download it again"
            )

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> Frontend:
        """The front end a funasr SenseVoice folder describes (``config.yaml`` + ``am.mvn``)."""
        import yaml

        from live.models import sensevoice_files

        files = sensevoice_files(model_dir)
        try:
            conf = yaml.safe_load(files["config"].read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ModelError(f"cannot read {files['config']} ({type(err).__name__}): download the model again") from err
        options = FrontendOptions.from_config(conf.get("frontend_conf") or {} if isinstance(conf, dict) else {})
        return cls(files["cmvn"], options)

    @property
    def dim(self) -> int:
        return self.options.n_mels * self.options.lfr_m

    def fbank(self, audio: np.ndarray) -> np.ndarray:
        """Kaldi log-mel fbank of ``audio``, [frames, n_mels]."""
        import kaldi_native_fbank as knf

        opts = self.options
        wave = np.asarray(audio, dtype=np.float32).reshape(-1) * np.float32(1 << 15)
        if wave.size == 0:
            return np.zeros((0, opts.n_mels), dtype=np.float32)
        fb_opts = knf.FbankOptions()
        frame = fb_opts.frame_opts
        frame.samp_freq = float(opts.fs)
        # funasr shortens the window to the whole clip when the clip is shorter than one window.
        frame.frame_length_ms = float(min(opts.frame_length_ms, wave.size / opts.fs * 1000))
        frame.frame_shift_ms = float(opts.frame_shift_ms)
        frame.dither = 0.0  # funasr's default 1.0 makes features random; decoding must be repeatable
        frame.window_type = opts.window
        frame.snip_edges = True
        # The rest are torchaudio's Kaldi defaults, which funasr relies on; set so knf's own can't differ.
        frame.preemph_coeff = 0.97
        frame.remove_dc_offset = True
        frame.round_to_power_of_two = True
        fb_opts.mel_opts.num_bins = opts.n_mels
        fb_opts.mel_opts.low_freq = 20.0
        fb_opts.mel_opts.high_freq = 0.0
        fb_opts.energy_floor = 0.0
        fb_opts.raw_energy = True
        fb_opts.use_energy = False
        fb_opts.use_log_fbank = True
        fb_opts.use_power = True
        fb_opts.htk_compat = False
        online = knf.OnlineFbank(fb_opts)
        online.accept_waveform(float(opts.fs), wave)
        online.input_finished()
        count = online.num_frames_ready
        if count == 0:
            return np.zeros((0, opts.n_mels), dtype=np.float32)
        return np.stack([online.get_frame(i) for i in range(count)]).astype(np.float32, copy=False)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Encoder features of ``audio``: fbank → LFR → CMVN, float32 [frames, dim]."""
        feats = apply_lfr(self.fbank(audio), self.options.lfr_m, self.options.lfr_n)
        feats += self.shift
        feats *= self.scale
        return feats
