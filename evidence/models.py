"""Models of the evidence app (see README.md)."""
