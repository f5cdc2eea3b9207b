"""Frames between the grading process and the sandbox: a JSON header and an optional payload.

A frame is a 4-byte big-endian header length, the UTF-8 JSON header, then ``header["size"]``
bytes of payload (plain data, see :mod:`autograder.plaindata`). Standard library only: the
sandbox imports this before anything else.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

MAX_HEADER = 1 << 20
LENGTH = struct.Struct(">I")


class ProtocolError(RuntimeError):
    """A frame that is malformed or larger than allowed."""


class FrameTimeout(Exception):
    """No complete frame before the deadline."""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    header = {**header, "size": len(payload)}
    data = json.dumps(header, allow_nan=False).encode()
    return LENGTH.pack(len(data)) + data + payload


def write_frame(fd: int, header: dict[str, Any], payload: bytes = b"") -> None:
    """Write one whole frame to ``fd`` (blocking)."""
    view = memoryview(encode_frame(header, payload))
    while view:
        view = view[os.write(fd, view) :]


def read_exact(fd: int, size: int) -> bytes:
    """Blocking read of exactly ``size`` bytes; EOFError when the other side closed."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame_blocking(fd: int) -> tuple[dict[str, Any], bytes]:
    """The next frame from ``fd`` (sandbox side, trusted sender)."""
    (length,) = LENGTH.unpack(read_exact(fd, LENGTH.size))
    header = json.loads(read_exact(fd, length))
    return header, read_exact(fd, header.get("size", 0))


class FrameReader:
    """Reads frames from an untrusted sender with a deadline and size limits."""

    def __init__(self, fd: int, *, max_payload: int) -> None:
        self.fd = fd
        self.max_payload = max_payload
        self.buffer = bytearray()

    def _fill(self, size: int, deadline: float) -> None:
        while len(self.buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FrameTimeout
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                raise FrameTimeout
            chunk = os.read(self.fd, max(1 << 16, min(size - len(self.buffer), 1 << 22)))
            if not chunk:
                raise EOFError("the sandbox closed its end")
            self.buffer += chunk

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        """The next frame; FrameTimeout, EOFError or ProtocolError otherwise."""
        self._fill(LENGTH.size, deadline)
        (length,) = LENGTH.unpack(bytes(self.buffer[: LENGTH.size]))
        if length > MAX_HEADER:
            raise ProtocolError(f"frame header of {length} bytes")
        self._fill(LENGTH.size + length, deadline)
        self._take(LENGTH.size)
        try:
            header = json.loads(self._take(length))
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"malformed frame header ({error})") from None
        size = header.get("size", 0) if isinstance(header, dict) else None
        if type(size) is not int or size < 0:  # not a float, a bool or a huge number as text
            raise ProtocolError("malformed frame header (its size is not a byte count)")
        if size > self.max_payload:
            raise ProtocolError(
                f"output of {size / 2**20:.0f} MB is larger than the "
                f"{self.max_payload / 2**20:.0f} MB limit"
            )
        self._fill(size, deadline)
        return header, self._take(size)
