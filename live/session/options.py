"""How a front end wants its session built, beyond what the user's ``Settings`` say."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from live.captions import BatchOptions, CaptionOptions
    from live.translate import TranslateOptions
    from live.vad import VadOptions

NotesMode = Literal["on", "when-key", "off"]


@dataclass(frozen=True)
class SessionOptions:
    """What ``build_session`` takes from its front end (the rest comes from ``Settings``).

    Attributes:
        notes: "on" (a notes service, asked for by key: the TUI), "when-key" (rolling notes only with an
            API key and updates on: headless) or "off".
        folder: write the session there instead of a new folder under ``settings.session_dir``.
        partials: decode open segments; None: the TUI always, headless with ``--partials``.
        stop_on_failure: end the session when recognition stops rather than wait for a retry; None:
            headless does, the TUI waits.
        meta: more keys for session.json (a server's stream says whose it is).
        continue_at: (clock, next segment index) the stream continues from, as the front end knows it (a
            server resuming a client's session; ``settings.resume`` reads them from the folder instead).
        vad, captions: the stages' options as they are (benchmarks, tests), instead of from the settings
            (``Settings.vad_options``, ``Settings.caption_options``).
        batching: how finals are decoded in batches; None: the captioner's default.
        translate: how ``--translate`` batches and waits; None: ``TranslateOptions()``.
    """

    notes: NotesMode = "on"
    folder: Path | None = None
    partials: bool | None = None
    stop_on_failure: bool | None = None
    meta: dict = field(default_factory=dict, hash=False)
    continue_at: tuple[float, int] | None = None
    vad: VadOptions | None = None
    captions: CaptionOptions | None = None
    batching: BatchOptions | None = None
    translate: TranslateOptions | None = None
