"""Running one function in several threads at once (the concurrent-writer tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def in_threads(target: Callable[[int], None], count: int) -> None:
    """Run ``target(0)`` ... ``target(count - 1)`` each in a thread of its own; return when all have ended."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
