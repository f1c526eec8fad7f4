"""The wire: the ``live.v1`` WebSocket protocol's typed messages, which both ends use (the server in
``live.serve`` and the remote worker in ``live.session.link``/``remote``), and how a key travels on it.
It carries captions as ``live.captions.Caption``, so it sits above the captions in the layers."""
