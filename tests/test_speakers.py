"""live.speakers: the voice encoder's weights and its embeddings against Resemblyzer's own, and who said
each final of real mixed lectures (lecturer or audience), online and offline."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from asr_helpers import closed_port_url

from devtools.mixed_lecture import build, load, segments
from live.errors import ConfigError, ModelError
from live.speakers.cluster import label_finals
from live.speakers.encoder import EncoderOptions
from live.speakers.roles import AUDIENCE, LECTURER, RoleLabeller, RoleOptions, SpeakerLabel
from live.speakers.weights import RESEMBLYZER, encoder_file, fetch_wheel, installed_package_file, read_checkpoint

RATE = 16000


def weights_path(voice_encoder) -> Path:
    return encoder_file(fetch=False)


def fake_package(root: Path, weights: bytes, monkeypatch) -> Path:
    """An installed-looking ``resemblyzer`` package holding ``weights`` as its pretrained.pt."""
    folder = root / "site" / "resemblyzer"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise ImportError('the package itself is never imported')\n")
    (folder / "pretrained.pt").write_bytes(weights)
    monkeypatch.syspath_prepend(str(root / "site"))
    return folder


# --- weights: found, fetched, checked ---------------------------------------------------------------------


def test_the_weights_are_copied_from_an_installed_package_and_checked(tmp_path, monkeypatch, voice_encoder):
    real = weights_path(voice_encoder).read_bytes()
    fake_package(tmp_path, real, monkeypatch)
    found = encoder_file(root=tmp_path / "models", fetch=False)
    assert found == tmp_path / "models" / "voice-encoder" / "pretrained.pt"
    assert found.read_bytes() == real
    assert (found.parent / "pretrained.pt.sha256").read_text().strip() == RESEMBLYZER.sha256
    shutil.rmtree(tmp_path / "site")  # the checked copy serves from now on
    assert encoder_file(root=tmp_path / "models", fetch=False) == found


def test_a_package_of_another_version_is_refused_in_one_line(tmp_path, monkeypatch):
    fake_package(tmp_path, b"not the voice encoder" * 1000, monkeypatch)
    with pytest.raises(ModelError) as caught:
        encoder_file(root=tmp_path / "models", fetch=False)
    message = str(caught.value)
    assert "not the expected file" in message and "--speakers off" in message and "\n" not in message
    assert not any((tmp_path / "models").rglob("*.pt")), "a wrong file was left where it would be loaded"


def test_a_damaged_copy_is_not_loaded(tmp_path, voice_encoder):
    target = tmp_path / "voice-encoder" / "pretrained.pt"
    target.parent.mkdir()
    target.write_bytes(weights_path(voice_encoder).read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    with pytest.raises(ModelError, match="not installed"):
        encoder_file(root=tmp_path, fetch=False)


@pytest.mark.skipif(installed_package_file() is not None, reason="resemblyzer is installed here: nothing is fetched")
def test_offline_the_fetch_fails_in_one_line_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "/simple")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    began = time.monotonic()
    with pytest.raises(ModelError) as caught:
        encoder_file(root=tmp_path)
    message = str(caught.value)
    assert time.monotonic() - began < 60
    assert "could not be fetched" in message and "--speakers off" in message and "\n" not in message
    assert not any(tmp_path.rglob("*.pt"))


def test_the_checkpoint_is_read_without_torch_exactly_as_torch_reads_it(voice_encoder):
    torch = pytest.importorskip("torch")
    path = weights_path(voice_encoder)
    ours = read_checkpoint(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    assert sorted(ours) == sorted(theirs)
    for name, tensor in theirs.items():
        np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "pretrained.pt"
    with bad.open("wb") as out:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, out)
        pickle.dump({"model_state": Evil()}, out)
    with pytest.raises(ModelError, match="cannot read the voice encoder's weights"):
        read_checkpoint(bad)
    assert not marker.exists()


# --- the encoder ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resemblyzer(tmp_path_factory):
    """Resemblyzer itself, from its wheel (fetched with pip), imported only where its imports work here."""
    folder = tmp_path_factory.mktemp("resemblyzer")
    try:
        wheel = fetch_wheel(RESEMBLYZER, folder)
    except ModelError as error:
        pytest.skip(f"cannot fetch Resemblyzer's wheel to compare with: {error}")
    zipfile.ZipFile(wheel).extractall(folder / "x")
    sys.path.insert(0, str(folder / "x"))
    try:
        with warnings.catch_warnings():  # its scipy.ndimage.morphology import is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            import resemblyzer
    except ImportError as error:
        pytest.skip(f"Resemblyzer's own imports fail here ({error}): nothing to compare with")
    finally:
        sys.path.remove(str(folder / "x"))
    return resemblyzer


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["en/jfk.flac", "en/realpython_harvard.flac", "en/realpython_jackhammer.flac",
                                  "en/fw_stereo_diarization_R.flac", "zh/funasr_cs_example1.flac",
                                  "en/ibm_02_call_center_25sec.flac", "zh/uberi_chinese.flac"])
def test_embeddings_match_resemblyzers_own(resemblyzer, voice_encoder, shared_audio, clip):
    audio = load(shared_audio, clip)
    reference = resemblyzer.VoiceEncoder("cpu", verbose=False).embed_utterance(resemblyzer.preprocess_wav(audio))
    ours = voice_encoder.embed(audio)
    assert ours.shape == (256,)
    assert float(ours @ reference) >= 0.999


def test_one_voice_is_closer_to_itself_than_to_others(voice_encoder, shared_audio):
    reader = [voice_encoder.embed(load(shared_audio, f"en/pocketsphinx_librivox_{n}.flac")) for n in ("0870", "0890")]
    others = [voice_encoder.embed(load(shared_audio, c)) for c in ("en/jfk.flac", "en/wenet_librispeech-1995-1837-0001.flac",
                                                                   "zh/paddlespeech_zh.flac")]
    same = float(reader[0] @ reader[1])
    assert same > 0.85
    assert all(float(reader[0] @ o) < same - 0.15 for o in others)


def test_partials_lie_in_the_audio_they_came_from(voice_encoder, shared_audio):
    audio = load(shared_audio, "en/jfk.flac")
    partials = voice_encoder.embed_partials(np.concatenate([np.zeros(2 * RATE, np.float32), audio]))
    assert len(partials.vectors) == len(partials.spans) >= 10
    assert np.allclose(np.linalg.norm(partials.vectors, axis=1), 1.0, atol=1e-5)
    assert partials.spans[0, 0] >= 1.5, "the leading silence was not trimmed before the first partial"
    assert np.all(np.diff(partials.spans[:, 0]) > 0) and partials.spans[-1, 1] <= 13.0
    assert partials.voiced <= 11.0


@pytest.mark.parametrize("bad", [{"rate": 0.5}, {"rate": 50}, {"min_coverage": 0}])
def test_encoder_options_are_checked(bad):
    with pytest.raises(ConfigError):
        EncoderOptions(**bad)


@pytest.mark.parametrize("bad", [{"same_voice": 1.5}, {"merge_voices": 0.5}, {"guest_run_s": 1}, {"takeover": 0.5}])
def test_role_options_are_checked(bad):
    with pytest.raises(ConfigError, match="speakers"):
        RoleOptions(**bad)


# --- roles, online ----------------------------------------------------------------------------------------


def accuracy(labels: dict[int, SpeakerLabel], lecture, finals) -> float:
    return float(np.mean([labels[f.index].speaker == lecture.truth_role(f.start, f.end) for f in finals]))


@pytest.mark.slow
def test_a_mixed_lecture_is_labelled_as_it_goes(voice_encoder, mixed_lecture):
    lecture, finals = mixed_lecture
    labeller = RoleLabeller(voice_encoder.embed_partials)
    fed: list[int] = []
    for final in finals:
        changed = labeller.feed(final.index, final.audio)
        fed.append(final.index)
        assert changed and changed[-1].index == final.index, "a final's label comes with it"
        assert all(label.index in fed for label in changed), "a label for a final not fed yet"
        assert [label.index for label in changed] == sorted(label.index for label in changed)
    labels = labeller.labels()
    assert sorted(labels) == [f.index for f in finals]
    assert accuracy(labels, lecture, finals) >= 0.95
    audience = [labels[f.index].voice for f in finals if labels[f.index].speaker == AUDIENCE]
    firsts = list(dict.fromkeys(audience))
    assert firsts == list(range(1, len(firsts) + 1)), "audience voices numbered 1, 2, ... as first heard"
    assert len(firsts) >= 4
    assert all(labels[f.index].voice is None for f in finals if labels[f.index].speaker == LECTURER)


def test_a_final_holding_two_voices_goes_to_its_majority(voice_encoder, shared_audio):
    talk = load(shared_audio, "en/ibm_08_ibm_watson_ai_3min.flac")
    asker = load(shared_audio, "en/realpython_harvard.flac")
    for question_s, answer_s, expected in [(4.0, 1.5, AUDIENCE), (1.5, 4.0, LECTURER)]:
        labeller = RoleLabeller(voice_encoder.embed_partials)
        for i in range(4):
            labeller.feed(i, talk[i * 10 * RATE:(i + 1) * 10 * RATE])
        mixed = np.concatenate([asker[:int(question_s * RATE)], talk[60 * RATE:int((60 + answer_s) * RATE)]])
        labeller.feed(4, mixed)
        assert labeller.label(4).speaker == expected, (question_s, answer_s)


def test_the_L_key_makes_the_voice_speaking_now_the_lecturer(voice_encoder, shared_audio):
    announcement = segments(load(shared_audio, "en/jfk.flac"))  # someone else opens the session
    talk = segments(load(shared_audio, "en/ibm_08_ibm_watson_ai_3min.flac")[:40 * RATE])
    plain, keyed = RoleLabeller(voice_encoder.embed_partials), RoleLabeller(voice_encoder.embed_partials)
    index = 0
    for final in announcement:
        plain.feed(index, final.audio)
        keyed.feed(index, final.audio)
        index += 1
    assert plain.label(0).speaker == LECTURER, "the first voice heard leads until another says more"
    changed = keyed.enroll(talk[0].audio)  # L pressed as the lecturer begins
    assert any(label.index == 0 and label.speaker == AUDIENCE for label in changed), "revised at once"
    first_talk = index
    for final in talk:
        keyed.feed(index, final.audio)
        plain.feed(index, final.audio)
        index += 1
        if index == first_talk + 1:
            assert keyed.label(first_talk).speaker == LECTURER
    for labeller in (plain, keyed):  # without the key, dominance gets there too, later
        assert labeller.label(0).speaker == AUDIENCE
        assert all(labeller.label(i).speaker == LECTURER for i in range(first_talk, index))


@pytest.mark.slow
def test_a_guest_lecturer_becomes_a_lecturer_too(voice_encoder, shared_audio):
    lecture = build(shared_audio, [("ibm08", 90.0), ("ibm11", None)], ["jfk", "harvard", "fwL", "ls1089", "paddle"],
                    chunk_s=20.0)
    finals = segments(lecture.audio)
    labeller = RoleLabeller(voice_encoder.embed_partials)
    revised = set()
    for final in finals:
        for label in labeller.feed(final.index, final.audio):
            if label.index != final.index:
                revised.add(label.index)
    labels = labeller.labels()
    assert accuracy(labels, lecture, finals) >= 0.95
    guest = [f.index for f in finals if lecture.truth_voice(f.start, f.end) == "ibm11"]
    host = [f.index for f in finals if lecture.truth_voice(f.start, f.end) == "ibm08"]
    assert all(labels[i].speaker == LECTURER for i in guest + host)
    assert revised & set(guest), "the guest's first finals were shown as audience, then revised"


# --- roles, offline ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_whole_file_is_labelled_offline(voice_encoder, mixed_lecture):
    lecture, finals = mixed_lecture
    seen = []
    labels = label_finals([(f.index, f.audio) for f in finals], voice_encoder.embed_partials,
                          progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(finals), len(finals))
    assert sorted(labels) == [f.index for f in finals]
    assert accuracy(labels, lecture, finals) >= 0.95
    assert labels[finals[0].index].speaker == LECTURER


def test_offline_labelling_of_nothing_is_nothing(voice_encoder):
    assert label_finals([], voice_encoder.embed_partials) == {}


def test_the_model_registry_agrees_with_the_code():
    from live.models.folders import load_registry

    entry = load_registry()["voice-encoder"]
    assert (entry["package"], entry["package_version"], entry["member"]) == (
        RESEMBLYZER.package, RESEMBLYZER.version, RESEMBLYZER.member)
    assert (entry["sha256"], entry["bytes"]) == (RESEMBLYZER.sha256, RESEMBLYZER.size)
