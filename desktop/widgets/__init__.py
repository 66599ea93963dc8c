"""Views of the main window; each takes engine objects (drafts, trials, predictions) and emits signals."""
