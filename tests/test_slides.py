"""Slides as context for the notes: real .pptx and .pdf decks made here, read back slide by slide."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from live.errors import InputError
from live.llm import LLMClient
from live.notes import summarize_session
from live.slides import Deck, Slide, SlidesError, find_terms, load_slides, slides_prompt_block
from notes_helpers import KEY, settings_for
from slides_helpers import LECTURE, encrypt_pdf, make_image_only_pdf, make_pdf, make_pptx


def test_pptx_slides_have_numbers_titles_text_and_speaker_notes(tmp_path):
    deck = load_slides(make_pptx(tmp_path / "hmm.pptx"))
    assert [s.number for s in deck.slides] == [1, 2, 3, 4]
    assert [s.title for s in deck.slides] == [t for t, _, _ in LECTURE] + ["Forward Algorithm Cost"]
    second = deck.slides[1]
    assert second.text.splitlines() == ["Dynamic programming over the trellis", "Complexity O(N2 T) for N states"]
    assert second.notes == "Stress that Viterbi finds the single most likely state sequence."
    assert "The Viterbi Algorithm" not in second.text  # the title is not repeated in the body
    assert "states | cost" in deck.slides[3].text and "N | O(N2 T)" in deck.slides[3].text


def test_pdf_titles_are_the_large_type_and_footers_are_dropped(tmp_path):
    lecture = LECTURE + [("Summary of Sequence Models", ["Viterbi decodes, Baum-Welch trains"], "")]
    deck = load_slides(make_pdf(tmp_path / "hmm.pdf", lecture, footer="Stanford CS 229 - Spring"))
    assert [s.number for s in deck.slides] == [1, 2, 3, 4]
    assert [s.title for s in deck.slides] == [t for t, _, _ in lecture]
    assert deck.slides[2].text.splitlines() == LECTURE[2][1]
    text = "\n".join(s.text for s in deck.slides)
    assert "Stanford CS 229" not in text and "2 / 4" not in text  # on every page: a footer, not content


def test_context_names_each_slide_and_fits_the_budget(tmp_path):
    deck = load_slides(make_pptx(tmp_path / "hmm.pptx"))
    full = deck.as_context(10_000)
    assert full.startswith("Slide 1: Hidden Markov Models\n")
    assert "Slide 2: The Viterbi Algorithm\nDynamic programming over the trellis" in full
    assert "Speaker notes: Stress that Viterbi" in full
    short = deck.as_context(200)
    assert len(short) <= 200
    assert [f"Slide {n}:" in short for n in (1, 2, 3, 4)] == [True] * 4  # every heading survives
    assert "…" in short


def test_context_of_a_long_deck_shares_the_room_fairly():
    slides = [Slide(1, "Short", "tiny body")] + [Slide(n, f"Long {n}", "word " * 400) for n in (2, 3)]
    context = Deck(Path("x.pdf"), slides).as_context(1000)
    assert len(context) <= 1000
    assert "Slide 1: Short\ntiny body" in context  # a short slide keeps all of its text
    long2, long3 = context.split("Slide 2:")[1].split("Slide 3:")
    assert abs(len(long2) - len(long3)) < 40  # the long ones share the rest evenly
    tight = Deck(Path("x.pdf"), [Slide(n, f"Title number {n}", "body") for n in range(1, 60)]).as_context(300)
    assert len(tight) <= 300 and tight.startswith("Slide 1: Title number 1") and "more slides)" in tight


def test_terms_are_the_technical_words_of_the_deck(tmp_path):
    terms = load_slides(make_pptx(tmp_path / "hmm.pptx")).terms(30)
    for term in ("Hidden Markov Models", "Viterbi", "Baum-Welch", "HMMs", "EM", "dynamic programming", "N2"):
        assert term in terms, (term, terms)
    assert "dynamic programming" in terms[:3]  # on two slides: ranked before one-slide terms
    lowered = [t.lower() for t in terms]
    for generic in ("the", "with", "training", "complexity", "stress"):
        assert generic not in lowered, (generic, terms)
    assert len(terms) == len(set(lowered))


def test_term_heuristics_on_typical_slide_text():
    texts = [
        "Backpropagation in PyTorch\nWe train ResNet50 with SGD and a learning rate of 0.01 on ImageNet.",
        "The learning rate schedule\nUse cosine decay; GPT-4 and IPv6 are other words with digits.",
        "INTRODUCTION TO DEEP LEARNING AND ITS MANY USES",
    ]
    terms = find_terms(texts, 50)
    for term in ("PyTorch", "ResNet50", "SGD", "ImageNet", "GPT-4", "IPv6", "learning rate"):
        assert term in terms, (term, terms)
    assert terms[0] == "learning rate"  # the only term on two slides
    assert "INTRODUCTION" not in terms and "DEEP" not in terms  # a shouted heading is not acronyms
    assert find_terms(texts, 3) == terms[:3]


def test_prompt_block_asks_for_slide_numbers_and_the_slides_spelling(tmp_path):
    deck = load_slides(make_pdf(tmp_path / "hmm.pdf"))
    block = slides_prompt_block(deck, 4000)
    assert len(block) <= 4000
    assert '"(slide N)"' in block and "spell" in block.lower()
    assert "Terms used on the slides:" in block and "Baum-Welch" in block
    assert "Slide 2: The Viterbi Algorithm\nDynamic programming over the trellis" in block
    small = slides_prompt_block(deck, 700)
    assert len(small) <= 700 and "Slide 3:" in small


def test_summarize_session_puts_the_slides_in_every_request(llm_server, tmp_path):
    """``summarize_session(..., context=...)``: the block rides in the system message."""
    session = tmp_path / "session"
    session.mkdir()
    lines = [{"type": "final", "start": 10.0 * i, "end": 10.0 * i + 8, "text": text, "language": "en"}
             for i, text in enumerate(["today the viterbi algorithm", "then baum welch training"])]
    (session / "transcript.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    block = slides_prompt_block(load_slides(make_pptx(tmp_path / "hmm.pptx")), 3000)
    settings = settings_for(llm_server)
    path = summarize_session(session, LLMClient(settings, KEY), settings, context=block)
    (request,) = llm_server.requests
    system = request.messages[0]
    assert system["role"] == "system" and system["content"].endswith(block)
    assert "today the viterbi algorithm" in request.last_user and "Slide 2:" not in request.last_user
    assert path.read_text(encoding="utf-8").startswith("# Notes")
    summarize_session(session, LLMClient(settings, KEY), settings)  # without slides: nothing about them
    assert "Slide 2:" not in llm_server.requests[1].prompt_text


# --- decks that cannot be used ---------------------------------------------------------------------


def test_encrypted_pdf_says_so(tmp_path):
    plain = make_pdf(tmp_path / "plain.pdf")
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", "secret")
    with pytest.raises(SlidesError, match=r"locked\.pdf is encrypted \(password-protected\)") as info:
        load_slides(locked)
    assert "\n" not in str(info.value)
    # Encrypted with an empty user password (permissions only): it opens as any reader opens it.
    opened = load_slides(encrypt_pdf(plain, tmp_path / "perms.pdf", "", owner_password="owner"))
    assert [s.title for s in opened.slides] == [t for t, _, _ in LECTURE]


def test_image_only_pdf_has_no_text(tmp_path):
    deck = make_image_only_pdf(tmp_path / "scanned.pdf")
    with pytest.raises(SlidesError, match=r"^no text found in .*scanned\.pdf \(scanned slides\?\)"):
        load_slides(deck)


@pytest.mark.parametrize("name", ["deck.key", "deck.odp", "deck.txt", "deck.ppt", "deck"])
def test_unsupported_formats_name_the_ones_that_work(tmp_path, name):
    path = tmp_path / name
    path.write_text("slide text")
    with pytest.raises(SlidesError, match=r"not supported; give a PDF or a PowerPoint \.pptx file") as info:
        load_slides(path)
    assert str(path) in str(info.value)


def test_missing_folder_empty_and_corrupt_decks(tmp_path):
    with pytest.raises(SlidesError, match="no such file; check the path given to --slides"):
        load_slides(tmp_path / "nope.pdf")
    with pytest.raises(SlidesError, match="is a folder"):
        load_slides(tmp_path)
    (tmp_path / "empty.pptx").write_bytes(b"")
    with pytest.raises(SlidesError, match=r"empty \(0 bytes\)"):
        load_slides(tmp_path / "empty.pptx")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    with pytest.raises(SlidesError, match=r"garbage\.pdf is not a readable PDF"):
        load_slides(garbage)
    pdf = make_pdf(tmp_path / "whole.pdf")
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(pdf.read_bytes()[: pdf.stat().st_size // 3])
    with pytest.raises(SlidesError, match=r"cut\.pdf is not a readable PDF"):
        load_slides(cut)
    not_pptx = tmp_path / "not.pptx"
    with zipfile.ZipFile(not_pptx, "w") as zf:
        zf.writestr("hello.txt", "a zip, but no presentation in it")
    with pytest.raises(SlidesError, match=r"not\.pptx is not a readable PowerPoint file"):
        load_slides(not_pptx)
    assert issubclass(SlidesError, InputError)  # the CLI's one-line handling applies
