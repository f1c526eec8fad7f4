"""SenseVoiceSmall on ONNX Runtime (int8 by default): the fast engine, with no torch at run time.

The graph (exported once by ``onnx_cache.ensure_onnx``) takes LFR+CMVN features and returns CTC
logits whose first four frames are the language, emotion, event and ITN tags. Around it, in numpy:
``frontend.Frontend`` for the features, greedy CTC (argmax, collapse repeats, drop blank 0) and
sentencepiece for the text, ``tags.parse_rich`` for the tags. Loading takes ~0.6 s (~2.5 s the first time,
while the optimised graph is made) and ~330 MB where the torch engine takes 12-21 s and 1.6-3.2 GB.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from live.asr.base import Transcription
from live.language import LANGUAGES
from live.asr.frontend import Frontend
from live.models.onnx_cache import StatusCallback, ensure_onnx
from live.asr.tags import parse_rich
from live.errors import ConfigError, ModelError
from live.models import check_sensevoice_folder, cpu_threads, sensevoice_files

log = logging.getLogger("live.asr.onnx")

# Rows of the model's query embedding, as funasr's SenseVoiceSmall numbers them (lid_dict, textnorm_dict).
LANGUAGE_IDS = {"auto": 0, "zh": 3, "en": 4, "yue": 7, "ja": 11, "ko": 12}
WITH_ITN, WITHOUT_ITN = 14, 15
BLANK_ID = 0  # sentencepiece's <unk>, which SenseVoice's CTC uses as its blank
# Shorter than one 25 ms analysis window there is nothing to recognize (and the torch engine says so too).
MIN_SAMPLES = 400
OPTIMIZED_SUFFIX = ".opt.onnx"


def ctc_greedy(logits: np.ndarray) -> list[int]:
    """Best path of one utterance's CTC logits [T, V]: argmax, collapse repeats, drop blanks."""
    if logits.shape[0] == 0:
        return []
    best = logits.argmax(axis=-1)
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(token) for token in best[keep] if token != BLANK_ID]


def open_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session set up as live decodes (benchmarks time graphs the same way).

    Optimising the int8 graph is most of a load (1.3-2.3 s of ~2.5 s for the full model on 2 cores),
    and a student who starts ``live`` as the lecturer starts speaking waits that long for a first
    caption. So the optimised graph is kept beside the export (``optimized_graph``) and loaded as it
    is next time (~0.3 s); it is made for this CPU and this ONNX Runtime, which its name records."""
    import onnxruntime as ort

    def load(graph: Path, level: Any, save: Path | None = None) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one graph at a time; a second pool would only compete
        options.graph_optimization_level = level
        # Idle worker threads would otherwise spin after every decode: between captions a live session
        # is mostly silence, and spinning showed as ~45 % of a core while nobody spoke.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if save is not None:
            options.optimized_model_filepath = str(save)
            options.log_severity_level = 3  # not its warning that the graph is for this CPU (the name says so)
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    # Full graph optimisation matters most for int8 (~1.5x slower without it).
    full = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    cached = optimized_graph(path)
    if cached is None:
        return load(path, full)
    if cached.exists():
        try:
            return load(cached, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        except Exception as err:  # damaged or not for this build after all: optimise again
            log.warning("the optimised graph %s does not load (%s); optimising %s again", cached, err, path.name)
            with contextlib.suppress(OSError):
                cached.unlink(missing_ok=True)
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.part")  # never a half-written graph under its name
    try:
        session = load(path, full, save=partial)
    except Exception:  # saving failed (a full disk), or the graph does not load: again without saving says which
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        return load(path, full)
    try:
        for old in cached.parent.glob(f"{path.stem}.*{OPTIMIZED_SUFFIX}"):  # made for another CPU or version
            old.unlink(missing_ok=True)
        os.replace(partial, cached)
    except OSError as err:
        log.info("could not keep the optimised graph in %s (%s): the next load optimises again",
                 cached.parent, err.strerror)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return session


def optimized_graph(path: Path) -> Path | None:
    """Where the optimised graph of ``path`` is kept for this CPU and ONNX Runtime (None: a read-only
    folder, where every load optimises). Its name changes with the graph, the CPU's features and the
    runtime's version, so a stale one is never loaded."""
    import onnxruntime as ort

    if not os.access(path.parent, os.W_OK):
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    key = hashlib.sha256(f"{ort.__version__} {stat.st_size} {stat.st_mtime_ns} {_cpu_features()}".encode())
    return path.with_name(f"{path.stem}.{key.hexdigest()[:12]}{OPTIMIZED_SUFFIX}")


def _cpu_features() -> str:
    """The CPU's instruction-set flags (the optimiser picks kernels and layouts by them)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def _language_id(language: str) -> int:
    try:
        return LANGUAGE_IDS[language]
    except KeyError:
        raise ConfigError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}") from None


class OnnxSenseVoiceEngine:
    """SenseVoiceSmall from a funasr folder, decoded by ONNX Runtime on the CPU."""

    name = "sensevoice"

    def __init__(
        self,
        model_dir: Path,
        *,
        quantized: bool = True,
        threads: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        folder = Path(model_dir).expanduser()
        check_sensevoice_folder(folder)
        self.folder = folder
        self.quantized = quantized
        self.threads = threads or cpu_threads()
        self.model = f"{folder.name} (onnx {'int8' if quantized else 'fp32'})"
        onnx_path = ensure_onnx(folder, quantize=quantized, on_status=on_status)
        try:
            import onnxruntime  # noqa: F401 - imported here so that a missing one gets the message below
            import sentencepiece as spm
        except ImportError as err:
            raise ModelError(f"the ONNX engine needs {err.name}: pip install 'live-captions[onnx]'") from err

        try:
            self._session = open_session(onnx_path, self.threads)
        except Exception as err:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ModelError(f"ONNX Runtime cannot load {onnx_path} ({err}): delete {onnx_path.parent} "
                             "so it is exported again") from err
        self._frontend = Frontend.from_model_dir(folder)
        self._tokenizer: Any = spm.SentencePieceProcessor(model_file=str(sensevoice_files(folder)["bpe"]))
        vocab = self._session.get_outputs()[0].shape[-1]
        if isinstance(vocab, int) and vocab != self._tokenizer.get_piece_size():
            raise ModelError(f"{folder}: the tokenizer has {self._tokenizer.get_piece_size()} pieces but the "
                             f"model outputs {vocab}: the folder mixes two models, download it again")
        self._run_options: Any = None
        log.info("SenseVoice ONNX loaded from %s with %d threads", onnx_path, self.threads)

    def cancel(self) -> None:
        """Stop the decode running now (from another thread): a partial whose segment has closed must
        not hold up its final. The interrupted call raises; the caller knows it asked for that."""
        run = self._run_options
        if run is not None:
            run.terminate = True

    @property
    def frontend(self) -> Frontend:
        """The feature front end (audio → encoder input), for callers that time the model alone."""
        return self._frontend

    def ctc_logits(self, audio: np.ndarray, language: str = "auto", use_itn: bool = True) -> np.ndarray:
        """The model's CTC logits [frames + 4, vocab] for ``audio``; the first 4 frames are tags."""
        _language_id(language)
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {samples.shape}")
        if samples.size < MIN_SAMPLES:
            return np.zeros((0, self._tokenizer.get_piece_size()), dtype=np.float32)
        return self.encode(self._frontend(samples), language, use_itn)

    def encode(self, feats: np.ndarray, language: str = "auto", use_itn: bool = True) -> np.ndarray:
        """One model call on front-end features [frames, dim]: CTC logits [frames + 4, vocab]."""
        if feats.shape[0] == 0:
            return np.zeros((0, self._tokenizer.get_piece_size()), dtype=np.float32)
        import onnxruntime as ort

        self._run_options = run = ort.RunOptions()  # a fresh one per call: cancel() stops only this one
        logits, lengths = self._session.run(None, {
            "speech": np.ascontiguousarray(feats[None], dtype=np.float32),
            "speech_lengths": np.array([feats.shape[0]], dtype=np.int32),
            "language": np.array([_language_id(language)], dtype=np.int32),
            "textnorm": np.array([WITH_ITN if use_itn else WITHOUT_ITN], dtype=np.int32),
        }, run)
        return logits[0, : int(lengths[0])]

    def transcribe_batch(self, audios: list[np.ndarray], language: str = "auto",
                         use_itn: bool = True) -> list[Transcription]:
        """Several pieces of audio in one model call (the graph has a batch axis; shorter inputs are
        padded and masked by ``speech_lengths``). A server decoding many streams uses it. With int8
        weights the activations are quantized per call, so a batched result can differ slightly
        from the same audio decoded alone."""
        lang = _language_id(language)
        feats = [self._frontend(np.asarray(a, dtype=np.float32)) if np.asarray(a).size >= MIN_SAMPLES
                 else np.zeros((0, 0), np.float32) for a in audios]
        live = [i for i, f in enumerate(feats) if f.shape[0] > 0]
        out = [Transcription(text="") for _ in audios]
        if not live:
            return out
        longest = max(feats[i].shape[0] for i in live)
        batch = np.zeros((len(live), longest, feats[live[0]].shape[1]), dtype=np.float32)
        for row, i in enumerate(live):
            batch[row, : feats[i].shape[0]] = feats[i]
        import onnxruntime as ort

        self._run_options = run = ort.RunOptions()  # cancel() stops this call too
        logits, lengths = self._session.run(None, {
            "speech": batch,
            "speech_lengths": np.array([feats[i].shape[0] for i in live], dtype=np.int32),
            "language": np.full(len(live), lang, dtype=np.int32),
            "textnorm": np.full(len(live), WITH_ITN if use_itn else WITHOUT_ITN, dtype=np.int32),
        }, run)
        for row, i in enumerate(live):
            out[i] = parse_rich(str(self._tokenizer.decode(ctc_greedy(logits[row, : int(lengths[row])]))))
        return out

    def token_ids(self, audio: np.ndarray, language: str = "auto", use_itn: bool = True) -> list[int]:
        """Greedy CTC token ids, rich tags included."""
        return ctc_greedy(self.ctc_logits(audio, language, use_itn))

    def raw_text(self, audio: np.ndarray, language: str = "auto", use_itn: bool = True) -> str:
        """The decoded string with its rich tags, as funasr's ``generate`` returns it."""
        return str(self._tokenizer.decode(self.token_ids(audio, language, use_itn)))

    def transcribe(self, audio: np.ndarray, language: str = "auto", use_itn: bool = True) -> Transcription:
        """Recognize 16 kHz mono float32 ``audio``; text comes without tags, tags as fields."""
        raw = self.raw_text(audio, language, use_itn)
        log.debug("sensevoice onnx raw: %s", raw)
        return parse_rich(raw)
