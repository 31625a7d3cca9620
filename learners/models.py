"""Models of the learners app (see README.md)."""
