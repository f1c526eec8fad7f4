"""The course's vocabulary: terms a general model has rarely heard, from the slides and ``--vocab``.

Two ways it reaches the captions, one for each kind of engine:

- Whisper is biased before decoding: ``whisper_bias(vocab)`` gives the ``hotwords`` list (most relevant
  terms first, within the prompt's token budget) for ``WhisperEngine``.
- SenseVoice cannot be biased: ``Corrector(vocab).correct(final, language)`` replaces near-misses of the
  terms in each final afterwards (sound-alike for English, pinyin for Chinese) and reports each one.

    vocab = load_vocab("terms.txt").merged_with(Vocabulary.from_terms(deck.terms()))
    engine = WhisperEngine(**whisper_bias(vocab, count_tokens=...).kwargs())
    fixed = Corrector(vocab).correct(caption.text, caption.language)

Only the corrector's matching imports anything heavy (doublemetaphone, pypinyin, rapidfuzz), on first use.
"""

from live.vocab.bias import PROMPT_BUDGET, WhisperBias, estimate_tokens, whisper_bias
from live.vocab.correct import Corrected, Correction, Corrector, CorrectorOptions
from live.vocab.terms import Term, VocabError, Vocabulary, load_vocab, parse_line, term_key

__all__ = [
    "PROMPT_BUDGET", "Corrected", "Correction", "Corrector", "CorrectorOptions", "Term", "VocabError",
    "Vocabulary", "WhisperBias", "estimate_tokens", "load_vocab", "parse_line", "term_key", "whisper_bias",
]
