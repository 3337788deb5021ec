"""Headless Chromium (Debian's ``chromium`` package) for the dashboard test: the DOM after the
page's scripts ran, and a screenshot decoded to pixels (a small PNG reader: no image library).

Every run blocks name resolution (``--host-resolver-rules``): a page that tried to fetch anything
from the network would get nothing, so what renders is what the file holds.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def chromium() -> str:
    """The browser's path; skips the test without one, unless CI requires it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("KPIPE_REQUIRE_BROWSER"):
        pytest.fail("KPIPE_REQUIRE_BROWSER is set but no chromium is installed")
    pytest.skip("no headless Chromium (apt-get install chromium)")


def _run(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def dump_dom(page: Path, profile: Path) -> str:
    return _run(page, profile, "--dump-dom").stdout.decode("utf-8")


def screenshot(page: Path, profile: Path, width: int, height: int) -> np.ndarray:
    """The rendered page as an (height, width, channels) uint8 array."""
    target = profile / "screenshot.png"
    _run(page, profile, f"--screenshot={target}", f"--window-size={width},{height}")
    return read_png(target.read_bytes())


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> np.ndarray:
    """8-bit RGB or RGBA, not interlaced: what Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width * bpp + 1)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    previous = np.zeros(width * bpp, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: a running sum per channel
            row = (
                (np.cumsum(line.reshape(width, bpp).astype(np.int64), axis=0) % 256)
                .astype(np.uint8)
                .reshape(-1)
            )
        elif kind == 2:  # Up
            row = ((line.astype(np.int64) + previous) % 256).astype(np.uint8)
        else:  # Average, Paeth: sequential within the row
            row_list = [0] * (width * bpp)
            up = previous.tolist()
            for i, value in enumerate(line.tolist()):
                left = row_list[i - bpp] if i >= bpp else 0
                if kind == 3:
                    row_list[i] = (value + (left + up[i]) // 2) % 256
                else:
                    upper_left = up[i - bpp] if i >= bpp else 0
                    row_list[i] = (value + _paeth(left, up[i], upper_left)) % 256
            row = np.array(row_list, dtype=np.uint8)
        out[y] = row
        previous = row
    return out.reshape(height, width, bpp)
