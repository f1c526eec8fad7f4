"""``live transcribe``: recordings and videos to the same files a live session leaves.

``job`` runs one file through the session core (fast file source, partials off, decode batches);
``progress`` draws the bar; ``command`` runs the command (its options: ``live.cli.transcribe``).
"""

from live.captions import Batch, Batcher, BatchOptions
from live.transcribe.command import parse_formats, transcribe_main
from live.transcribe.job import (
    DEFAULT_FORMATS,
    FORMATS,
    OUTPUT_FILES,
    FileResult,
    check_input,
    output_folder,
    to_markdown,
    transcribe_file,
)
from live.transcribe.progress import Progress

__all__ = [
    "Batch", "BatchOptions", "Batcher", "DEFAULT_FORMATS", "FORMATS", "FileResult",
    "OUTPUT_FILES", "Progress", "check_input", "output_folder",
    "parse_formats", "to_markdown", "transcribe_file", "transcribe_main",
]
