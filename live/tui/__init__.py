"""The Textual UI. ``create_app`` is the one factory used by the CLI and the tests."""
