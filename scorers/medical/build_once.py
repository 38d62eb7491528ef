"""An index built once per process, on first use, by one thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BuiltOnce(Generic[T]):
    """Calls ``build`` on the first call and returns its result on every call.

    The first build takes a lock, so that two request threads arriving together do not both spend
    a second or two building the same index; once built it is a plain read, without the lock.

    >>> calls = []
    >>> index = BuiltOnce(lambda: calls.append(1) or {"a": 1})
    >>> index() is index(), len(calls)
    (True, 1)
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: list[T] = []  # empty until built; a list so that None could be a value

    def __call__(self) -> T:
        if self._value:
            return self._value[0]
        with self._lock:
            if not self._value:
                self._value.append(self._build())
            return self._value[0]
