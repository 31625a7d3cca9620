"""Models of the mastery app (see README.md)."""
