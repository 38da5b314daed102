"""Deterministic, platform-independent pseudo-randomness keyed by integers.

Everything random in the universe is a pure function of ``(seed, salt, index, ...)``, so a
coin's data never depends on generation order, lazily built details match eagerly built
ones, and two processes with the same seed serve identical bytes.

Draws come from SHAKE-128 (an extendable-output hash in ``hashlib``, implemented in C): one
call yields a whole block of 64-bit draws, which keeps 100k-coin universes fast, and its
output is prefix-stable (asking for more bytes never changes the earlier ones), so tables
indexed by asset position agree across universe sizes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK = (1 << 64) - 1


_PACKERS = {n: struct.Struct(f"<{n}Q") for n in range(1, 9)}


def _key(parts: tuple[int, ...]) -> bytes:
    packer = _PACKERS.get(len(parts)) or struct.Struct(f"<{len(parts)}Q")
    try:
        return packer.pack(*parts)
    except struct.error:  # negative or wider than 64 bits: the same bytes as masked
        return packer.pack(*(p & _MASK for p in parts))


def draw_table(count: int, *key: int) -> tuple[int, ...]:
    """``count`` 64-bit draws for ``key``; entry ``i`` does not depend on ``count``."""
    if count <= 0:
        return ()
    return struct.unpack(f"<{count}Q", hashlib.shake_128(_key(key)).digest(8 * count))


def hash_ints(*parts: int) -> int:
    """One 64-bit hash of ``parts``."""
    return int.from_bytes(hashlib.blake2b(_key(parts), digest_size=8).digest(), "little")


class Stream:
    """A reproducible sequence of 64-bit draws for one key (grows on demand)."""

    __slots__ = ("_key", "_next", "_size")

    def __init__(self, *key: int, size: int = 48) -> None:
        self._key = key
        self._size = size
        # A C-level iterator keeps a draw at tens of nanoseconds.
        self._next = iter(draw_table(size, *key)).__next__

    def _grow(self) -> None:
        used = self._size
        self._size *= 2
        self._next = iter(draw_table(self._size, *self._key)[used:]).__next__

    def bits(self) -> int:
        try:
            return self._next()
        except StopIteration:
            self._grow()
            return self._next()

    def below(self, bound: int) -> int:
        """Integer in ``[0, bound)`` (modulo bias < bound / 2**64, irrelevant here)."""
        return self.bits() % bound

    def between(self, low: int, high: int) -> int:
        """Integer in ``[low, high]``."""
        return low + self.bits() % (high - low + 1)

    def per_mille(self, chance: int) -> bool:
        """True with probability ``chance / 1000``."""
        return self.bits() % 1000 < chance

    def choice(self, items: Sequence[T]) -> T:
        return items[self.bits() % len(items)]

    def digits(self, count: int) -> int:
        """A ``count``-digit integer without a leading zero."""
        return self.between(10 ** (count - 1), 10**count - 1)
