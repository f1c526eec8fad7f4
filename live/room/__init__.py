"""The room: a session's live captions on every phone and on the projector.

A front-end-side service, below the TUI, headless mode and ``live serve``, above the session core: the
front end tees the session's events to a ``Room`` (``publish``); ``hub`` encodes each once and keeps
the lecture so far for late joiners, ``codes`` makes the unguessable codes and keeps the per-address
limits, ``translations`` translates once per language the viewers choose, ``web`` serves the page
(``static/``) and the event stream, ``share`` runs it all on a thread for ``live --share``, and ``qr``
draws the URL for phones to scan.
"""

from live.room.codes import AccessOptions, new_code, normalize, pretty
from live.room.hub import HubOptions, RoomEvent, RoomHub, Viewer
from live.room.room import Room, RoomOptions, Rooms

# ``live.room.share`` and ``live.room.web`` import Starlette and uvicorn: imported where they are used.
__all__ = ["AccessOptions", "HubOptions", "Room", "RoomEvent", "RoomHub", "RoomOptions", "Rooms", "Viewer", "new_code",
           "normalize", "pretty"]
