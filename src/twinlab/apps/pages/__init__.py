"""Page scripts for ``panel serve`` (run by the server, not imported)."""
