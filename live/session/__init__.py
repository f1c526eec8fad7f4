"""The session core: one worker that never freezes, built the same way for every front end."""

from live.session.builder import (Session, build_session, check_model, course_vocabulary, demo_clip,
                                  source_factory)
from live.events import (
    Bookmark,
    EngineState,
    Finished,
    Marker,
    Notice,
    Pause,
    Retry,
    Status,
    Translation,
)
from live.session.options import SessionOptions
from live.session.stats import SessionStats
from live.session.loading import EngineLoader, StatusCallback
from live.session.worker import Worker

__all__ = [
    "Bookmark", "EngineLoader", "EngineState", "Finished", "Marker", "Notice", "Pause", "Retry", "Session",
    "SessionOptions", "SessionStats", "Status", "StatusCallback", "Translation", "Worker", "build_session", "check_model", "course_vocabulary",
    "demo_clip",
    "source_factory",
]
