"""The course's vocabulary in a session: read from ``--vocab`` and the slides, set on the engine once it
is loaded, and applied to each final before the final is saved.

- Whisper is biased: the terms become its ``hotwords``, counted by the model's own tokenizer, most
  relevant first, within its budget (``whisper_bias``); the engine's check keeps only what that gains.
- Every final, whatever the engine (SenseVoice cannot be biased; on Whisper's finals it is cheap), goes
  through the corrector: near-misses of a term are replaced, and the caption carries what was replaced
  (``Caption.corrections``, saved in transcript.jsonl). A final that matches nothing is left as it is.

    course = CourseVocabulary.load(vocab=Path("terms.txt"), slides=Path("deck.pdf"))
    load_engine = course.loader(load_engine)   # the bias is set once the model has loaded
    worker = Worker(..., revise=course.revise)  # each final corrected before it is written

The terms of a file win over the slides' (spelling and weight). A deck is parsed once per version of the
file (``live.slides.read_deck``), however many parts of the session need it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from live.captions import Caption
from live.errors import LiveError
from live.vocab.bias import whisper_bias
from live.vocab.correct import Corrector, CorrectorOptions
from live.vocab.terms import Vocabulary, load_vocab
from live.slides import read_deck

if TYPE_CHECKING:
    from live.session.loading import EngineLoader

log = logging.getLogger("live.session.vocabulary")

SLIDES_SOURCE = "slides"


def course_vocabulary(vocab: Path | None = None, slides: Path | None = None) -> Vocabulary | None:
    """The terms of ``--vocab`` and of the slides, the file's first; None when neither gives any.
    VocabError or SlidesError (one line) for a file that cannot be used."""
    terms = load_vocab(vocab) if vocab is not None else Vocabulary()
    if slides is not None:
        deck = read_deck(slides)
        terms = terms.merged_with(Vocabulary.from_terms(deck.terms(), source=SLIDES_SOURCE))
    return terms or None


class CourseVocabulary:
    """The vocabulary as a session uses it: a bias for the engine and a corrector for the finals."""

    def __init__(self, vocab: Vocabulary, options: CorrectorOptions | None = None, *, bias: bool = True) -> None:
        """``bias``: also bias Whisper (it decodes each final twice, to keep only what the terms gain:
        captions come later). On for an explicit ``--vocab``; slides alone only correct, which is cheap."""
        self.vocab = vocab
        self.bias = bias
        self.corrector: Corrector | None = Corrector(vocab, options)
        self.bias_terms: tuple[str, ...] = ()  # what went into Whisper's prompt
        self.corrected = 0  # finals corrected so far

    @classmethod
    def load(cls, vocab: Path | None = None, slides: Path | None = None) -> CourseVocabulary | None:
        terms = course_vocabulary(vocab, slides)
        return cls(terms, bias=vocab is not None) if terms is not None else None

    @property
    def terms(self) -> list[str]:
        """The terms, most relevant first (what a translation's glossary starts from)."""
        return [t.text for t in self.vocab]

    def prepare(self, engine: object) -> str:
        """Bias ``engine`` when it can be biased, make the corrector ready (its matching libraries load
        now, not on the first final); one line saying what was done."""
        said = f"vocabulary: {len(self.vocab)} terms"
        if self.bias and hasattr(engine, "hotwords") and callable(getattr(engine, "count_tokens", None)):
            bias = whisper_bias(self.vocab, count_tokens=engine.count_tokens,  # type: ignore[attr-defined]
                                english_only=bool(getattr(engine, "english_only", False)))
            engine.hotwords = bias.hotwords  # type: ignore[attr-defined]
            self.bias_terms = bias.terms
            said += f", {len(bias.terms)} in Whisper's prompt"
            log.info("Whisper hotwords: %d terms, %d tokens, %d left out", len(bias.terms), bias.tokens, bias.left_out)
        if self.corrector is not None:
            try:
                self.corrector.correct("warm up 热身", None)
            except LiveError as exc:  # a matching library is missing: say which, caption on without it
                log.warning("vocabulary corrections off: %s", exc)
                self.corrector = None
                return f"{said}; corrections off: {exc}"
        return said

    def loader(self, load: EngineLoader) -> EngineLoader:
        """``load``, then the engine prepared (in the model's loading thread, before any decode); an
        engine the session switches to later (a cold start's ``then``) is prepared the same way."""

        def load_and_prepare(on_status):
            loaded = load(on_status)
            engine, reason = loaded[0], loaded[1]
            said = self.prepare(engine)
            prepared = (engine, f"{reason} · {said}" if reason else said)
            then = loaded[2] if len(loaded) > 2 else None
            return (*prepared, self.loader(then)) if then is not None else prepared

        return load_and_prepare

    def revise(self, caption: Caption) -> Caption:
        """``caption`` with its near-misses of the terms corrected (and listed); the same caption when
        nothing matches. A bug here never costs a caption: the text is kept as it was."""
        if self.corrector is None or caption.kind != "final" or not caption.text:
            return caption
        try:
            fixed = self.corrector.correct(caption.text, caption.language)
        except Exception:
            log.exception("correcting a final failed; it is kept as recognized")
            return caption
        if not fixed.corrections:
            return caption
        self.corrected += 1
        return replace(caption, text=fixed.text,
                       corrections=caption.corrections + tuple(c.to_json() for c in fixed.corrections))
