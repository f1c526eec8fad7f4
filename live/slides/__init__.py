"""Course slides as context for the notes: a PDF or PowerPoint deck's text, slide by slide.

``read`` turns a deck into `Slide`s, ``terms`` finds its technical terms (so the notes can spell what
speech recognition misheard the way the slides do), ``prompt`` fits both into a notes request.
"""

from live.slides.prompt import slides_prompt_block
from live.slides.read import FORMATS, Deck, Slide, SlidesError, load_slides
from live.slides.terms import find_terms

__all__ = ["FORMATS", "Deck", "Slide", "SlidesError", "find_terms", "load_slides", "slides_prompt_block"]
