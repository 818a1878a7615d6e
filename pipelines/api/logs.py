"""Reading a step's log in chunks, by byte offset, while it may still be growing."""
from __future__ import annotations

import codecs
import os


def read_chunk(path: str, *, offset: int, limit: int, is_final: bool) -> dict:
    """Up to ``limit`` bytes of the log at ``path`` from byte ``offset``, decoded as UTF-8.

    Offsets count bytes. A character cut by the chunk's end is left for the next call (its
    bytes are not counted in ``next_offset``) unless the log has ended there; bytes that are not
    UTF-8 become U+FFFD. An offset past the end reads nothing from the end. A log not written
    yet reads as empty. ``is_complete``: the step is final and this chunk reaches the end.
    """
    start, data, size = _read(path, offset, limit)
    end = start + len(data)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=is_final and end >= size)
    held = len(decoder.getstate()[0])  # the start of a character the next chunk completes
    if held and held == len(data):  # not one whole character fits in ``limit``: do not stall
        text, held = decoder.decode(b"", final=True), 0
    next_offset = end - held
    return {"text": text, "offset": start, "next_offset": next_offset,
            "is_complete": is_final and next_offset >= size}


def _read(path: str, offset: int, limit: int) -> tuple[int, bytes, int]:
    """(where reading started, the bytes read, the file's size); nothing for a missing file."""
    if not path:
        return 0, b"", 0
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = min(offset, size)
            f.seek(start)
            return start, f.read(limit), size
    except FileNotFoundError:
        return 0, b"", 0
