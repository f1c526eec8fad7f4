"""The transcript: the session folder's one schema (``schema``: its typed lines and their one reader), its
writer (``writer``), and every rendering of it (``render``: txt, srt, vtt, translated subtitles; ``cues``:
lines fitted to the subtitle standards of each script)."""

from live.transcript.render import (cues, render_all, render_translations, to_srt, to_txt, to_vtt, translated_finals,
                                    translation_files)
from live.transcript.schema import (AUDIO, TRANSCRIPT, Line, Marker, SpeakerLabel, Translation, Uncaptioned, parse_line,
                                    parse_lines, read_entries, read_lines, read_speakers, read_transcript,
                                    speaker_labels, uncaptioned, Speakers)
from live.transcript.writer import ResumePoint, SessionWriter, WavAppender, new_session_dir, resume_point, wav_frames

__all__ = [
    "AUDIO", "TRANSCRIPT", "Line", "Marker", "ResumePoint", "SessionWriter", "SpeakerLabel", "Translation",
    "Uncaptioned", "WavAppender", "cues", "new_session_dir", "parse_line", "parse_lines", "read_entries", "read_lines",
    "read_speakers", "read_transcript", "render_all", "Speakers", "speaker_labels",
    "render_translations", "resume_point", "to_srt", "to_txt", "to_vtt",
    "translated_finals", "translation_files", "uncaptioned", "wav_frames",
]
