"""The embedded movie-review world: a synthetic corpus, tiny models trained on it, cached on disk."""
