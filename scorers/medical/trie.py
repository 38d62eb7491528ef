"""A word trie the cyclic garbage collector never walks, for the HPO phrase look-ups.

The normaliser's synonym index and the concept and mention indexes each hold tens of thousands
of phrases. As nested dicts (one per trie node, ~85,000 in all) they were tracked by Python's
cyclic collector, and every full collection walked all of them: on never-seen answers that was
10-25% of `answer`'s time. Here each node is a ``dict[str, int]`` (word → child node number),
the nodes sit in one tuple, and what a phrase maps to sits in another tuple, looked up by
number. Dicts that hold only strings and ints are never tracked, and a tuple of untracked
objects stops being tracked at its first collection, so the whole index costs the collector
nothing, by construction rather than by `gc.freeze`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

V = TypeVar("V")

# Key of a node's entry that holds the number of the phrase ending there; no word contains it.
_END = "\x00"


class PhraseTrie(Generic[V]):
    """Phrases (tuples of words) → values, matched longest first, left to right.

    >>> t = PhraseTrie([(("pleural", "effusion"), "A"), (("pleural",), "B")])
    >>> t.matches(("small", "pleural", "effusion", "pleural"))
    [(1, 3, 'A'), (3, 4, 'B')]
    """

    __slots__ = ("_nodes", "_values")

    def __init__(self, phrases: Iterable[tuple[tuple[str, ...], V]]) -> None:
        nodes: list[dict[str, int]] = [{}]
        values: list[V] = []
        for words, value in phrases:
            at = 0
            for word in words:
                child = nodes[at].get(word)
                if child is None:
                    child = len(nodes)
                    nodes[at][word] = child
                    nodes.append({})
                at = child
            if _END in nodes[at]:
                values[nodes[at][_END]] = value  # a phrase given twice: the last value wins
            else:
                nodes[at][_END] = len(values)
                values.append(value)
        self._nodes: tuple[dict[str, int], ...] = tuple(nodes)
        self._values: tuple[V, ...] = tuple(values)

    @property
    def first_words(self) -> Mapping[str, int]:
        """The words some phrase starts with (a membership test before `longest_at`)."""
        return self._nodes[0]

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def longest_at(self, tokens: tuple[str, ...] | list[str], i: int) -> tuple[int, V] | None:
        """(end, value) of the longest phrase that starts at ``tokens[i]``, or None."""
        nodes = self._nodes
        at = nodes[0].get(tokens[i])
        if at is None:
            return None
        n = len(tokens)
        best = -1
        end = i
        j = i + 1
        while True:
            node = nodes[at]
            hit = node.get(_END)
            if hit is not None:
                best, end = hit, j
            if j >= n:
                break
            nxt = node.get(tokens[j])
            if nxt is None:
                break
            at = nxt
            j += 1
        return None if best < 0 else (end, self._values[best])

    def matches(self, tokens: tuple[str, ...] | list[str]) -> list[tuple[int, int, V]]:
        """(start, end, value) of each phrase found, longest match first, left to right."""
        out: list[tuple[int, int, V]] = []
        first = self._nodes[0]
        n = len(tokens)
        i = 0
        while i < n:
            if tokens[i] not in first:  # the usual word: no phrase starts with it
                i += 1
                continue
            hit = self.longest_at(tokens, i)
            if hit is None:
                i += 1
            else:
                out.append((i, hit[0], hit[1]))
                i = hit[0]
        return out
