"""Degenerate output: a small model writing the same block again and again.

After a tool's output the 0.5B model may write the call again as text, line after line, until its
budget runs out (hundreds of tokens; to the 32k context without `max_output_tokens`).
`RepeatWatch` sees the output as it is decoded and says when its tail is one block repeated:
`TIMES` copies of a block of at least `MIN_BLOCK` characters (3 copies from `LONG_BLOCK` on; 2 of
a long block in text held back as a tool call: the same call twice is already one too many).  A
string whose last k*p characters have period p is k copies of its last p characters whatever
the phase, so checking after every piece finds a repetition as soon as it is complete.  Blocks
shorter than `MIN_BLOCK` (a rule of dashes, `0, 0, 0`, indentation) are legitimate repetition and
never stop anything: the smallest period of the tail decides.
"""

from __future__ import annotations

MIN_BLOCK = 16
LONG_BLOCK = 40
TIMES = 4  # copies of a block shorter than LONG_BLOCK; 3 of a longer one
MAX_BLOCK = 1500
WINDOW = TIMES * MAX_BLOCK


def _times(period: int, held: bool = False) -> int:
    if period >= LONG_BLOCK:
        return 2 if held else 3
    return TIMES


class RepeatWatch:
    """Feed it the decoded text; `feed` returns the repeated block's length once it repeats."""

    def __init__(self) -> None:
        self.text = ""
        self.held = False

    def feed(self, piece: str, held: bool = False) -> int:
        """The length of the block the output now repeats (0: it does not); `held`: the output is
        being held back as a tool call."""
        if not piece:
            return 0
        self.text, self.held = (self.text + piece)[-WINDOW:], held
        return repeated_block(self.text, held)

    def surplus(self, period: int) -> int:
        """Characters to drop from the end to keep one copy of a block of `period` characters."""
        return (_times(period, self.held) - 1) * period


def repeated_block(s: str, held: bool = False) -> int:
    """The smallest period p of the end of `s` (k copies: 4, or 3 of a long block), when it is at
    least MIN_BLOCK; else 0 (no repetition, or a short legitimate one)."""
    n = len(s)
    if n < 2 * MIN_BLOCK:
        return 0
    tail = s[-MIN_BLOCK:]
    hi = n - 1  # earlier copies of the tail, nearest first: the smallest period first
    while True:
        pos = s.rfind(tail, 0, hi)
        if pos < 0:
            return 0
        period = n - MIN_BLOCK - pos
        times = _times(period, held)
        if period > MAX_BLOCK or times * period > n:
            return 0
        if s[n - times * period:] == s[n - period:] * times:
            return period if period >= MIN_BLOCK else 0
        hi = pos + MIN_BLOCK - 1
