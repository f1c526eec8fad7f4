"""``live serve``: the classroom recognition server (its clients are ``live.session.remote`` for ``live run
--server`` and ``live.transcribe.remote`` for ``live transcribe --server``).

One machine holds the model; laptops stream their microphone to it over a WebSocket and get the
captions back. Each connection runs the same session core as a local run (``stream``, admitted by ``gate``), its decodes
going to one queue shared by every connection (``scheduler``; on Ray Serve replicas with
``ray_backend``). Files go through ``rest`` in OpenAI's shape. ``keys`` holds the API keys,
``limits`` what each may use, ``sessions`` the server's session folders and resume, ``app`` the
ASGI app, ``command`` runs the ``live serve`` and ``live keys`` commands (their options: ``live.cli.serve``).
"""

from live.serve.command import keys_main, serve_main

__all__ = ["keys_main", "serve_main"]
