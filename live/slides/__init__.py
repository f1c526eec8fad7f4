"""Course slides as context for the notes: a PDF or PowerPoint deck's text, slide by slide.

``read`` turns a deck into `Slide`s (parsed once per version of the file: ``read_deck``), ``deck`` holds
them with their technical terms (``terms``: so the notes can spell what speech recognition misheard the
way the slides do), ``prompt`` fits both into a notes request (``slides_context``).
"""

from live.slides.deck import Deck, Slide
from live.slides.prompt import slides_context, slides_prompt_block
from live.slides.read import FORMATS, SlidesError, load_slides, read_deck
from live.slides.terms import find_terms

__all__ = ["FORMATS", "Deck", "Slide", "SlidesError", "find_terms", "load_slides", "read_deck", "slides_context",
           "slides_prompt_block"]
