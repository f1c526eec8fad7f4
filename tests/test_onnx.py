"""SenseVoice on ONNX Runtime: front end, export cache, fp32/int8 agreement with funasr, the engine.

All on the tiny random-weight model (its text is garbage, its code path is the real one). Exports run
in child processes, each paying funasr's ~10 s import: the module takes about a minute.
"""

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

from live.models import onnx_cache
from live.asr.base import Transcription
from live.asr.frontend import Frontend, apply_lfr, load_cmvn
from live.asr.onnx_engine import OPTIMIZED_SUFFIX
from live.models.onnx_cache import FP32_NAME, INT8_NAME, MANIFEST, ensure_onnx, sha256_file
from live.errors import ConfigError, ModelError
from live.models import cpu_threads

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# Real speech shipped with the project (see tests/data): 11 s, 3 s, 3.3 s and 18 s of English.
CLIPS = ("jfk.flac", "pocketsphinx_librivox_0880.flac", "pocketsphinx_librivox_0930.flac",
         "realpython_harvard.flac")

pytestmark = pytest.mark.slow


def _audio(name: str) -> np.ndarray:
    samples, rate = sf.read(DATA / name, dtype="float32")
    assert rate == 16000 and samples.ndim == 1
    return samples


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- fixtures: one tiny model and one export per session; tests that damage files work on copies ----


@pytest.fixture(scope="session")
def onnx_tiny_source(tiny_sensevoice) -> Path:
    """The session's tiny random-weight SenseVoice folder; tests here never write into it."""
    return tiny_sensevoice


@pytest.fixture
def exported_copy(onnx_tiny, tmp_path) -> Path:
    """A private copy of the exported tiny model, for tests that corrupt or change files."""
    folder = tmp_path / "sv-tiny"
    shutil.copytree(onnx_tiny, folder)
    # copytree keeps mtimes, so the manifest's fast pre-check still holds for the copy.
    return folder


@pytest.fixture(scope="session")
def funasr_tiny(onnx_tiny_source):
    """funasr's own AutoModel on the tiny model, with dither 0 so its features are deterministic."""
    from funasr import AutoModel

    return AutoModel(model=str(onnx_tiny_source), device="cpu", ncpu=cpu_threads(),
                     disable_update=True, disable_pbar=True, frontend_conf={"dither": 0.0})


@pytest.fixture(scope="session")
def engines(onnx_tiny):
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    return {
        "fp32": OnnxSenseVoiceEngine(onnx_tiny, quantized=False, threads=2),
        "int8": OnnxSenseVoiceEngine(onnx_tiny, quantized=True, threads=2),
    }


# --- front end ------------------------------------------------------------------------------------


def test_frontend_matches_funasr_wavfrontend_on_real_speech(onnx_tiny_source):
    import torch
    from funasr.frontends.wav_frontend import WavFrontend

    ours = Frontend.from_model_dir(onnx_tiny_source)
    theirs = WavFrontend(cmvn_file=str(onnx_tiny_source / "am.mvn"), fs=16000, window="hamming", n_mels=80,
                         frame_length=25, frame_shift=10, lfr_m=7, lfr_n=6, dither=0.0)
    for name in CLIPS[:3]:
        audio = _audio(name)
        # Whole clip, a length that is no multiple of the LFR step, and one shorter than a window.
        for cut in (audio, audio[: 16000 * 2 + 123], audio[:300]):
            expected, lengths = theirs(torch.from_numpy(cut.copy())[None], [cut.size])
            got = ours(cut)
            assert got.shape == tuple(expected.shape[1:]) == (int(lengths[0]), 560)
            assert np.abs(got - expected[0].numpy()).max() < 1e-4, (name, cut.size)


def test_lfr_pads_edges_like_funasr():
    import torch
    from funasr.frontends.wav_frontend import apply_lfr as funasr_lfr

    rng = np.random.default_rng(0)
    for frames in range(1, 80):
        feats = rng.standard_normal((frames, 4)).astype(np.float32)
        expected = funasr_lfr(torch.from_numpy(feats), 7, 6).numpy()
        assert np.array_equal(apply_lfr(feats, 7, 6), expected), frames


def test_cmvn_reader_rejects_a_file_without_vectors(tmp_path):
    bad = tmp_path / "am.mvn"
    bad.write_text("<Nnet>\n</Nnet>\n")
    with pytest.raises(ModelError, match="AddShift"):
        load_cmvn(bad)


# --- fp32 ONNX == funasr torch, int8 close to fp32 -------------------------------------------------


def test_fp32_onnx_decodes_the_same_token_ids_as_funasr(engines, funasr_tiny, monkeypatch):
    """Same audio, same features (both dither 0): funasr's greedy CTC ids and ours are identical."""
    tokenizer_class = type(funasr_tiny.kwargs["tokenizer"])
    decode = tokenizer_class.decode
    seen: list[list[int]] = []

    def spy(self, token_ids, **kwargs):
        seen.append([int(t) for t in token_ids])
        return decode(self, token_ids, **kwargs)

    # funasr hands its final ids to tokenizer.decode; recording them there reads funasr's own result.
    # Patched on the class: funasr decodes with a copy of the tokenizer it keeps for each call.
    monkeypatch.setattr(tokenizer_class, "decode", spy)
    engine = engines["fp32"]
    for name in CLIPS:
        audio = _audio(name)
        for language, use_itn in (("auto", False), ("en", True)):
            seen.clear()
            results = funasr_tiny.generate(input=audio, language=language, use_itn=use_itn, batch_size=1,
                                           disable_pbar=True)
            assert len(seen) == 1
            ids = engine.token_ids(audio, language, use_itn)
            assert len(ids) > 4, "the random model should still emit tags and pieces"
            assert ids == seen[0], (name, language, use_itn)
            assert engine.raw_text(audio, language, use_itn) == results[0]["text"]


def test_language_and_itn_inputs_change_the_tag_frames(engines):
    audio = _audio(CLIPS[1])
    auto = engines["fp32"].ctc_logits(audio, "auto", use_itn=True)
    english = engines["fp32"].ctc_logits(audio, "en", use_itn=True)
    without_itn = engines["fp32"].ctc_logits(audio, "auto", use_itn=False)
    assert auto.shape == english.shape == without_itn.shape
    assert not np.allclose(auto[:4], english[:4])
    assert not np.allclose(auto[:4], without_itn[:4])


def test_int8_ctc_logits_stay_close_to_fp32(engines):
    # Bound for the tiny model (measured ≥ 0.999); on the full model QUInt8 gives ≥ 0.9995 against torch.
    for name in CLIPS:
        audio = _audio(name)
        fp32 = engines["fp32"].ctc_logits(audio)
        int8 = engines["int8"].ctc_logits(audio)
        assert fp32.shape == int8.shape
        assert _cosine(fp32, int8) >= 0.99, name
        assert not np.array_equal(fp32, int8), "int8 must really be a different (quantized) graph"


# --- the export cache -----------------------------------------------------------------------------


def _no_build(*args, **kwargs):
    raise AssertionError("ensure_onnx rebuilt an export that was up to date")


def test_second_call_reuses_the_cache_without_exporting(exported_copy, monkeypatch):
    onnx_dir = exported_copy / "onnx"
    before = {name: (onnx_dir / name).stat().st_mtime_ns for name in (FP32_NAME, INT8_NAME, MANIFEST)}
    monkeypatch.setattr(onnx_cache, "_run_child", _no_build)
    messages: list[str] = []
    assert ensure_onnx(exported_copy, quantize=True, on_status=messages.append) == onnx_dir / INT8_NAME
    assert ensure_onnx(exported_copy, quantize=False, on_status=messages.append) == onnx_dir / FP32_NAME
    assert messages == []
    assert {name: (onnx_dir / name).stat().st_mtime_ns for name in before} == before


def test_touched_but_unchanged_files_are_hashed_and_accepted(exported_copy, monkeypatch):
    onnx_dir = exported_copy / "onnx"
    for path in (exported_copy / "model.pt", onnx_dir / INT8_NAME):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    monkeypatch.setattr(onnx_cache, "_run_child", _no_build)
    assert ensure_onnx(exported_copy) == onnx_dir / INT8_NAME
    manifest = json.loads((onnx_dir / MANIFEST).read_text())
    # The new mtimes are recorded so that the next start is fast again.
    assert manifest["source"]["weights"]["mtime_ns"] == (exported_copy / "model.pt").stat().st_mtime_ns
    assert manifest["outputs"]["int8"]["files"][INT8_NAME]["mtime_ns"] == (onnx_dir / INT8_NAME).stat().st_mtime_ns


def test_cached_onnx_finds_what_ensure_onnx_would_reuse_and_never_builds(exported_copy, monkeypatch):
    onnx_dir = exported_copy / "onnx"
    monkeypatch.setattr(onnx_cache, "_run_child", _no_build)
    assert onnx_cache.cached_onnx(exported_copy) == onnx_dir / INT8_NAME
    assert onnx_cache.cached_onnx(exported_copy, quantize=False) == onnx_dir / FP32_NAME
    with (onnx_dir / INT8_NAME).open("r+b") as f:
        f.truncate(100)
    assert onnx_cache.cached_onnx(exported_copy) is None
    assert onnx_cache.cached_onnx(exported_copy, quantize=False) == onnx_dir / FP32_NAME


def test_a_flipped_byte_in_the_export_is_detected_and_rebuilt(exported_copy):
    fp32 = exported_copy / "onnx" / FP32_NAME
    good = sha256_file(fp32)
    with fp32.open("r+b") as f:  # same size, different content: only the hash can tell
        f.seek(fp32.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert sha256_file(fp32) != good
    messages: list[str] = []
    assert ensure_onnx(exported_copy, quantize=False, on_status=messages.append) == fp32
    assert any("Converting" in m for m in messages)
    assert sha256_file(fp32) == good  # the export is deterministic: the same graph again
    manifest = json.loads((exported_copy / "onnx" / MANIFEST).read_text())
    assert manifest["outputs"]["fp32"]["files"][FP32_NAME]["sha256"] == good


def test_a_truncated_int8_file_is_requantized_without_a_new_export(exported_copy):
    int8 = exported_copy / "onnx" / INT8_NAME
    size = int8.stat().st_size
    with int8.open("r+b") as f:
        f.truncate(size // 3)
    messages: list[str] = []
    assert ensure_onnx(exported_copy, quantize=True, on_status=messages.append) == int8
    assert any("Quantizing" in m for m in messages)
    assert not any("Converting" in m for m in messages)
    assert int8.stat().st_size == size


def test_a_changed_source_model_is_exported_again(exported_copy, engines):
    import torch

    weights = exported_copy / "model.pt"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    for key in ("ctc.ctc_lo.weight", "ctc.ctc_lo.bias"):  # the output layer, doubled: logits × 2
        state[key] = state[key] * 2.0
    torch.save(state, weights)
    messages: list[str] = []
    path = ensure_onnx(exported_copy, quantize=False, on_status=messages.append)
    assert any("Converting" in m for m in messages)
    manifest = json.loads((exported_copy / "onnx" / MANIFEST).read_text())
    assert manifest["source"]["weights"]["sha256"] == sha256_file(weights)
    assert "int8" not in manifest["outputs"], "the int8 graph of the old weights must be dropped"
    assert not (exported_copy / "onnx" / INT8_NAME).exists()

    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    changed = OnnxSenseVoiceEngine(exported_copy, quantized=False, threads=2)
    audio = _audio(CLIPS[1])
    assert path == exported_copy / "onnx" / FP32_NAME
    np.testing.assert_allclose(changed.ctc_logits(audio), engines["fp32"].ctc_logits(audio) * 2.0,
                               rtol=1e-4, atol=1e-4)


def test_manifest_records_versions_settings_and_hashes(onnx_tiny):
    manifest = json.loads((onnx_tiny / "onnx" / MANIFEST).read_text())
    from live import __version__

    assert manifest["live_version"] == __version__
    assert set(manifest["source"]) == {"weights", "config", "cmvn", "bpe"}
    assert manifest["source"]["cmvn"]["sha256"] == sha256_file(onnx_tiny / "am.mvn")
    quant = manifest["outputs"]["int8"]["quantization"]
    assert quant["weight_type"] == "QUInt8" or quant["reduce_range"] is True
    for variant, name in (("fp32", FP32_NAME), ("int8", INT8_NAME)):
        assert manifest["outputs"][variant]["files"][name]["sha256"] == sha256_file(onnx_tiny / "onnx" / name)


def test_plain_qint8_is_refused():
    with pytest.raises(ValueError, match="reduce_range"):
        onnx_cache.Quantization(weight_type="QInt8", reduce_range=False)


def test_an_incomplete_model_folder_is_a_model_error(onnx_tiny_source, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(onnx_tiny_source, folder)
    (folder / "am.mvn").unlink()
    with pytest.raises(ModelError, match="am.mvn"):
        ensure_onnx(folder)
    with pytest.raises(ModelError, match="does not exist"):
        ensure_onnx(tmp_path / "nowhere")


# --- the engine -----------------------------------------------------------------------------------


def test_engine_returns_a_transcription_without_tags(engines):
    for key, engine in engines.items():
        assert engine.name == "sensevoice"
        assert engine.model == f"sv-tiny (onnx {key})"
        result = engine.transcribe(_audio("jfk.flac"))
        assert isinstance(result, Transcription)
        assert result.text and "<|" not in result.text and "|>" not in result.text
        assert "<|" in engine.raw_text(_audio("jfk.flac")), "the raw string keeps the tags parse_rich removes"


def test_engine_handles_silence_short_audio_and_bad_language(engines):
    engine = engines["int8"]
    assert engine.transcribe(np.zeros(0, dtype=np.float32)) == Transcription(text="")
    assert engine.transcribe(np.zeros(200, dtype=np.float32)) == Transcription(text="")
    assert isinstance(engine.transcribe(np.zeros(16000, dtype=np.float32)), Transcription)
    with pytest.raises(ConfigError, match="unknown language"):
        engine.transcribe(_audio(CLIPS[1]), language="xx")


def _kept_graphs(folder: Path) -> list[Path]:
    return sorted((folder / "onnx").glob(f"*{OPTIMIZED_SUFFIX}"))


def test_the_optimised_graph_is_kept_and_a_damaged_or_stale_one_made_again(exported_copy, caplog):
    from live.asr.onnx_engine import OnnxSenseVoiceEngine

    for old in _kept_graphs(exported_copy):  # the copy may carry one from the session's engines
        old.unlink()
    speech = _audio("jfk.flac")
    first = OnnxSenseVoiceEngine(exported_copy, threads=2)
    kept = _kept_graphs(exported_copy)
    assert len(kept) == 1 and kept[0].name.startswith("model_int8.")
    assert not list((exported_copy / "onnx").glob(".*.part")), "no half-written graph left behind"
    expected = first.ctc_logits(speech, "en")
    # Loaded as it is next time: the same logits as the graph optimised at load.
    np.testing.assert_allclose(OnnxSenseVoiceEngine(exported_copy, threads=2).ctc_logits(speech, "en"),
                               expected, rtol=1e-4, atol=1e-4)
    size = kept[0].stat().st_size
    with kept[0].open("r+b") as f:  # a disk that lost the file's end
        f.truncate(size // 4)
    with caplog.at_level("WARNING", logger="live.asr.onnx"):
        again = OnnxSenseVoiceEngine(exported_copy, threads=2)
    assert "does not load" in caplog.text
    np.testing.assert_allclose(again.ctc_logits(speech, "en"), expected, rtol=1e-4, atol=1e-4)
    assert kept[0].stat().st_size == size
    int8 = exported_copy / "onnx" / INT8_NAME
    os.utime(int8, ns=(int8.stat().st_atime_ns, int8.stat().st_mtime_ns + 10**9))  # the export changed
    OnnxSenseVoiceEngine(exported_copy, threads=2)
    renewed = _kept_graphs(exported_copy)
    assert len(renewed) == 1 and renewed != kept, "the stale graph is replaced, not kept beside the new one"


def test_a_graph_that_cannot_be_kept_still_loads(exported_copy):
    from live.asr.onnx_engine import OnnxSenseVoiceEngine, optimized_graph

    for old in _kept_graphs(exported_copy):
        old.unlink()
    target = optimized_graph(exported_copy / "onnx" / INT8_NAME)
    blocker = target.with_name(f".{target.name}.{os.getpid()}.part")
    blocker.mkdir()  # where the graph would be written is not a file: saving fails as on a full disk
    engine = OnnxSenseVoiceEngine(exported_copy, threads=2)
    assert engine.transcribe(_audio("jfk.flac")).text
    assert not target.exists()


def test_engine_decodes_in_a_process_that_never_imports_torch(onnx_tiny):
    script = (
        "import json, sys\n"
        "import soundfile as sf\n"
        "from pathlib import Path\n"
        "from live.asr.onnx_engine import OnnxSenseVoiceEngine\n"
        f"engine = OnnxSenseVoiceEngine(Path({str(onnx_tiny)!r}))\n"
        f"audio, _ = sf.read({str(DATA / 'jfk.flac')!r}, dtype='float32')\n"
        "result = engine.transcribe(audio)\n"
        "print(json.dumps({'text': result.text, 'torch': 'torch' in sys.modules,\n"
        "                  'funasr': 'funasr' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["text"] and "<|" not in report["text"]
    assert report == {"text": report["text"], "torch": False, "funasr": False}


# --- benchmarks/asr_speed.py ----------------------------------------------------------------------


def test_speed_benchmark_prints_its_tables(onnx_tiny, shared_audio):
    command = [sys.executable, "benchmarks/asr_speed.py", "--model", str(onnx_tiny), "--backends",
               "onnx-fp32,onnx-int8", "--lengths", "2,5", "--repeats", "1"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert [row[0] for row in rows if row and row[0] in ("2s", "5s")] == ["2s", "5s"]
    assert sum(1 for row in rows if row[:1] in (["onnx-fp32"], ["onnx-int8"]) and row[-1] == "MB") == 2


# --- the quantizer that reads one weight at a time ------------------------------------------------


@pytest.mark.parametrize("settings", [
    onnx_cache.DEFAULT_QUANTIZATION,
    onnx_cache.Quantization(weight_type="QInt8", reduce_range=True),
    onnx_cache.Quantization(per_channel=False),
], ids=["quint8-per-channel", "qint8-reduce-range", "quint8-per-tensor"])
def test_int8_is_byte_for_byte_what_quantize_dynamic_writes(onnx_tiny, tmp_path, settings):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from live.models.onnx_build import _quantize

    fp32 = onnx_tiny / "onnx" / FP32_NAME
    (tmp_path / "ours").mkdir()
    _quantize(fp32, tmp_path / "ours", settings)
    quantize_dynamic(model_input=str(fp32), model_output=str(tmp_path / "ort.onnx"),
                     op_types_to_quantize=list(settings.op_types), per_channel=settings.per_channel,
                     reduce_range=settings.reduce_range, weight_type=getattr(QuantType, settings.weight_type))
    assert (tmp_path / "ours" / INT8_NAME).read_bytes() == (tmp_path / "ort.onnx").read_bytes()


def test_quantize_weight_matches_onnxruntimes_per_channel_rounding():
    """Edge columns: all zero (scale 1), constant, all negative, all positive, tiny values."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    from live.models.onnx_quant import WeightQuant, quantize_weight

    rng = np.random.default_rng(1)
    weights = rng.standard_normal((37, 6)).astype(np.float32)
    weights[:, 0] = 0.0
    weights[:, 1] = 0.25
    weights[:, 2] = -np.abs(weights[:, 2])
    weights[:, 3] = np.abs(weights[:, 3])
    weights[:, 4] *= 1e-30
    for qtype, symmetric, reduce_range in ((TensorProto.UINT8, False, False), (TensorProto.INT8, True, True)):
        q, scale, zero_point = quantize_weight(weights, WeightQuant(qtype, symmetric, reduce_range, True))
        for column in range(weights.shape[1]):
            zp, sc, qc = quantize_data(weights[:, column].flatten(), qtype, symmetric, reduce_range=reduce_range)
            assert (zero_point[column], scale[column]) == (zp, sc), column
            assert np.array_equal(q[:, column], qc), column


# --- the export that writes its weights as external data, one tensor at a time --------------------


def test_fp32_weights_lie_in_a_data_file_the_manifest_covers(onnx_tiny):
    import onnx
    from onnx.external_data_helper import uses_external_data

    onnx_dir = onnx_tiny / "onnx"
    manifest = json.loads((onnx_dir / MANIFEST).read_text())
    files = manifest["outputs"]["fp32"]["files"]
    assert set(files) == {FP32_NAME, onnx_cache.FP32_DATA}
    for name, record in files.items():
        assert record["sha256"] == sha256_file(onnx_dir / name)
    graph = onnx.load(str(onnx_dir / FP32_NAME), load_external_data=False).graph
    external = [t for t in graph.initializer if uses_external_data(t)]
    assert external and all(len(t.raw_data) < 1024 for t in graph.initializer if not uses_external_data(t))
    assert {entry.value for t in external for entry in t.external_data if entry.key == "location"} == {
        onnx_cache.FP32_DATA}
    assert set(manifest["outputs"]["int8"]["files"]) == {INT8_NAME}, "the int8 model stays one file"


def test_a_flipped_byte_in_the_weights_file_is_detected_and_rebuilt(exported_copy):
    data = exported_copy / "onnx" / onnx_cache.FP32_DATA
    good = sha256_file(data)
    with data.open("r+b") as f:
        f.seek(data.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert onnx_cache.cached_onnx(exported_copy, quantize=False) is None
    messages: list[str] = []
    ensure_onnx(exported_copy, quantize=False, on_status=messages.append)
    assert any("Converting" in m for m in messages)
    assert sha256_file(data) == good


def test_the_export_is_torchs_own_graph_with_the_same_weights(onnx_tiny_source, onnx_tiny, tmp_path):
    """torch.onnx.export with its weights inside (the old recipe) gives the same nodes and values."""
    import onnx
    import torch
    from funasr import AutoModel
    from onnx import numpy_helper

    from live.models.onnx_build import OPSET

    auto = AutoModel(model=str(onnx_tiny_source), device="cpu", ncpu=1, disable_update=True, disable_pbar=True)
    model = auto.model.export(max_seq_len=512, device="cpu")
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, model.export_dummy_inputs(), str(tmp_path / "plain.onnx"), dynamo=False,
                          opset_version=OPSET, input_names=model.export_input_names(),
                          output_names=model.export_output_names(), dynamic_axes=model.export_dynamic_axes())
    plain = onnx.load(str(tmp_path / "plain.onnx")).graph
    ours = onnx.load(str(onnx_tiny / "onnx" / FP32_NAME)).graph  # external data loaded
    for field in ("node", "input", "output"):
        assert [m.SerializeToString() for m in getattr(ours, field)] == [
            m.SerializeToString() for m in getattr(plain, field)], field
    assert [t.name for t in ours.initializer] == [t.name for t in plain.initializer]
    for mine, theirs in zip(ours.initializer, plain.initializer):
        assert np.array_equal(numpy_helper.to_array(mine), numpy_helper.to_array(theirs)), mine.name


def test_a_checkpoint_that_does_not_fit_is_refused_by_the_export(onnx_tiny_source, tmp_path):
    from asr_helpers import damage_checkpoint
    from funasr import AutoModel

    from live.models.onnx_export import ExportError, load_weights_mapped

    broken = damage_checkpoint(onnx_tiny_source, tmp_path / "sv-missing", "missing")
    auto = AutoModel(model=str(onnx_tiny_source), device="cpu", ncpu=1, disable_update=True, disable_pbar=True)
    with pytest.raises(ExportError, match=r"does not fit config\.yaml \(1 of \d+ weights"):
        load_weights_mapped(path=str(broken / "model.pt"), model=auto.model)
    with pytest.raises(ModelError, match="ONNX export failed: error: .*does not fit") as caught:
        ensure_onnx(broken, quantize=False)
    assert "\n" not in str(caught.value)


def test_a_build_step_killed_for_memory_is_a_one_line_model_error(onnx_tiny_source, tmp_path, monkeypatch):
    folder = shutil.copytree(onnx_tiny_source, tmp_path / "sv-tiny")
    monkeypatch.setattr(onnx_cache.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, -9))
    with pytest.raises(ModelError, match=r"ONNX export was killed by signal 9 \(out of memory\?") as caught:
        ensure_onnx(folder, quantize=False)
    assert "\n" not in str(caught.value)
    assert not (folder / "onnx" / FP32_NAME).exists()
