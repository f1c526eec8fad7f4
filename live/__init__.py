"""live: real-time lecture captions in the terminal.

The package reads as the pipeline: audio → vad → asr → captions → transcript → summarize → tui.
"""

__version__ = "0.1.0"
