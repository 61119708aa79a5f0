"""Telling a numeric id from a name in user input."""

from __future__ import annotations


def is_number(text: str) -> bool:
    """True for a plain decimal number ("42"), false for names and for other Unicode digits.

    ``str.isdigit`` alone accepts "²" or "٣", which ``int()`` then rejects (or reads as a number
    the user never typed); input that names an id by its number must be ASCII digits.
    """
    return text.isascii() and text.isdigit()
