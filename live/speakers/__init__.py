"""Who is speaking: the lecturer, or a question from the room.

``encoder`` turns a final's audio into a voice embedding (Resemblyzer's GE2E voice encoder, run in
numpy; ``weights`` finds, fetches and checks its weights); ``roles`` labels finals online as they
come, revising earlier labels as it learns; ``cluster`` labels a whole file at once. The session
runs the online labeller on its own thread, off the caption path.
"""

from live.speakers.encoder import EncoderOptions, Partials, VoiceEncoder
from live.speakers.roles import AUDIENCE, LECTURER, RoleLabeller, RoleOptions, SpeakerLabel

__all__ = ["AUDIENCE", "LECTURER", "EncoderOptions", "Partials", "RoleLabeller", "RoleOptions", "SpeakerLabel",
           "VoiceEncoder"]
