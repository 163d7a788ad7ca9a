"""Sets of small integers as Python ints (bit i set: i is in the set)."""

from __future__ import annotations


def bit_positions(x: int) -> list[int]:
    """The positions of the set bits of x, ascending."""
    s = bin(x)[:1:-1]
    out = []
    i = s.find("1")
    while i >= 0:
        out.append(i)
        i = s.find("1", i + 1)
    return out
