"""How much memory one input may make msmix allocate: what the machine can hold, or what the operator allows.

Sizes that come from outside (an upload's declared arrays, a transcript's length, a backbone's size
knobs, a sweep's value count) are checked against :func:`memory_limit` *before* anything is allocated,
so that a crafted or careless value is one clear error, never a ``MemoryError``, an abort or a server
that swaps. ``$MSMIX_MEMORY_LIMIT`` (bytes, or with a K/M/G suffix) sets the limit on a shared server.
"""

from __future__ import annotations

import os
import re

from msmix_core.errors import MsmixError

#: Environment variable that caps what one input may allocate (e.g. ``2G`` on a class server).
MEMORY_LIMIT_ENV = "MSMIX_MEMORY_LIMIT"

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def available_memory() -> int:
    """Bytes of memory free for new allocations now (Linux's ``MemAvailable``; else the free pages)."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30  # a machine that will not say: a laptop's worth


def memory_limit() -> int:
    """The most bytes one input may make msmix allocate: ``$MSMIX_MEMORY_LIMIT``, else half the free memory."""
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not text:
        return available_memory() // 2
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", text.upper())
    if match is None:
        raise MsmixError(f"${MEMORY_LIMIT_ENV}={text!r}: give bytes, or a size such as 512M or 4G")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def check_size(nbytes: int, what: str, hint: str) -> None:
    """Refuse ``what``, which would take ``nbytes`` bytes, when that is beyond :func:`memory_limit`."""
    limit = memory_limit()
    if nbytes > limit:
        raise MsmixError(
            f"{what} would take {nbytes / 2**30:,.1f} GiB, more than the {limit / 2**30:,.1f} GiB one input may use "
            f"here (${MEMORY_LIMIT_ENV}, default half the free memory): {hint}"
        )


#: The deepest nesting of lists and dicts msmix reads from a stored JSON value (it writes at most 4 levels).
JSON_DEPTH_LIMIT = 32


def too_deep(value: object, limit: int = JSON_DEPTH_LIMIT) -> bool:
    """Whether lists and dicts nest in ``value`` beyond ``limit`` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in children)
    return False
