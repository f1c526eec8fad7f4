"""The transcript: the session folder's one schema (``schema``), its writer (``writer``), and every
rendering of it (``render``: txt, srt, vtt, translated subtitles; ``cues``: lines fitted to the
subtitle standards of each script)."""

from live.transcript.render import (cues, render_all, render_translations, to_srt, to_txt, to_vtt, translated_finals,
                                    translation_files)
from live.transcript.schema import AUDIO, TRANSCRIPT, read_entries
from live.transcript.writer import ResumePoint, SessionWriter, WavAppender, new_session_dir, resume_point, wav_frames

__all__ = [
    "AUDIO", "TRANSCRIPT", "ResumePoint", "SessionWriter", "WavAppender", "cues", "new_session_dir", "read_entries",
    "render_all", "render_translations", "resume_point", "to_srt", "to_txt", "to_vtt", "translated_finals",
    "translation_files", "wav_frames",
]
