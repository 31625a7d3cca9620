"""Models of the standards app (see README.md)."""
