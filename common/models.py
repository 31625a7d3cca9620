"""Models of the common app (see README.md)."""
