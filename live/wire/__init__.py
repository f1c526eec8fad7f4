"""The wire: the ``live.v1`` WebSocket protocol's typed messages, which both ends use (the server in
``live.serve`` and the remote worker in ``live.session.remote``), and how a key travels on it."""
