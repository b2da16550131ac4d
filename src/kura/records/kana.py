"""Search normalisation for Japanese names and identifiers (see kura.text, shared with the image archive)."""

from kura.text import normalise

__all__ = ["normalise"]
