"""The value grammar of stored-query parameters (ITI TF-2a 3.18.4.1.2.3.5, ebRS 3.0 6.3.2).

Each ``rim:Value`` of a query Slot is one of::

    value := item | '(' [ item ( ',' item )* ] ')'
    item  := "'" ( any char but "'" | "''" )* "'"      a quoted string, '' is an embedded quote
           | bare                                       digits or any run without quote, comma, parens, space

Whitespace around items and separators is ignored. Several ``rim:Value`` elements of one Slot are simply
concatenated into one list. Bare items are tolerated for every kind (numbers and times are sent bare,
some consumers send bare strings); anything else (an unterminated quote, text after a closing quote or
parenthesis, an empty value) is a malformed value and is reported, never guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ValueSyntaxError", "parse_value", "parse_values"]

_DELIMITERS = frozenset("'(),")


class ValueSyntaxError(ValueError):
    """A ``rim:Value`` text that does not follow the grammar above."""


def parse_values(texts: Iterable[str]) -> tuple[str, ...]:
    """All items of all ``rim:Value`` texts of one Slot, in order."""
    items: list[str] = []
    for text in texts:
        items.extend(parse_value(text))
    return tuple(items)


def parse_value(text: str) -> tuple[str, ...]:
    """The items of one ``rim:Value`` text."""
    scanner = _Scanner(text)
    scanner.skip_space()
    if scanner.at_end():
        raise ValueSyntaxError("empty value")
    if scanner.peek() == "(":
        scanner.advance()
        items = scanner.list_items()
    else:
        items = [scanner.item()]
    scanner.skip_space()
    if not scanner.at_end():
        raise ValueSyntaxError(f"unexpected text after the value at offset {scanner.pos}")
    return tuple(items)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos]

    def advance(self) -> None:
        self.pos += 1

    def skip_space(self) -> None:
        while not self.at_end() and self.peek().isspace():
            self.pos += 1

    def list_items(self) -> list[str]:
        """Items after an opening parenthesis, up to and including the closing one."""
        items: list[str] = []
        self.skip_space()
        if not self.at_end() and self.peek() == ")":
            self.advance()
            return items
        while True:
            self.skip_space()
            items.append(self.item())
            self.skip_space()
            if self.at_end():
                raise ValueSyntaxError("missing closing parenthesis")
            char = self.peek()
            self.advance()
            if char == ")":
                return items
            if char != ",":
                raise ValueSyntaxError(f"expected ',' or ')' at offset {self.pos - 1}")

    def item(self) -> str:
        if self.at_end():
            raise ValueSyntaxError("missing item")
        if self.peek() == "'":
            return self.quoted()
        start = self.pos
        while not self.at_end() and self.peek() not in _DELIMITERS and not self.peek().isspace():
            self.pos += 1
        if self.pos == start:
            raise ValueSyntaxError(f"unexpected {self.peek()!r} at offset {self.pos}")
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.advance()  # opening quote
        chunks: list[str] = []
        start = self.pos
        while True:
            end = self.text.find("'", self.pos)
            if end < 0:
                raise ValueSyntaxError("unterminated quoted string")
            if end + 1 < len(self.text) and self.text[end + 1] == "'":
                chunks.append(self.text[start : end + 1])  # '' -> '
                self.pos = start = end + 2
                continue
            chunks.append(self.text[start:end])
            self.pos = end + 1
            return "".join(chunks)
