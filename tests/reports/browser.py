"""Headless Chromium (Debian's ``chromium`` package) for the dashboard test: the DOM after the
page's scripts ran, and a screenshot decoded to pixels (a small PNG reader: no image library).

Every run blocks name resolution (``--host-resolver-rules``): a page that tried to fetch anything
from the network would get nothing, so what renders is what the file holds. Virtual time lets the
page's scripts finish (promises, timers) before the DOM or the screenshot is taken.

:func:`probe` opens an instrumented copy of a page and reads back what a person would check: each
chart's drawn lines or bars and plot area, whether an axis label is clipped or overlaps another,
the tooltip shown when the mouse moves onto the first point, the metric menu's entries, and
every Content-Security-Policy violation (anything the page tried to load or run and was refused).
"""

from __future__ import annotations

import html
import json
import os
import re
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
    "--virtual-time-budget=15000",
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


#: Before anything else in the page: records CSP violations from the start
_PROBE_HEAD = """<script>
window.probeViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.probeViolations.push(e.violatedDirective + " " + e.blockedURI);
});
</script>"""
#: After the page's scripts: once the charts are drawn, measure them as laid out
_PROBE_BODY = """<script>
(function () {
  function rects(nodes) {  // of the labels shown (plotly keeps hidden ones, of size 0)
    return [...nodes].map((n) => n.getBoundingClientRect()).filter((r) => r.width && r.height);
  }
  function inside(r, box) {
    return r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 &&
      r.bottom <= box.bottom + 1;
  }
  function overlapping(list) {
    let count = 0;
    list.forEach((a, i) => list.slice(i + 1).forEach((b) => {
      if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 &&
          b.top < a.bottom - 1) count += 1;
    }));
    return count;
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  function texts(root, selector) {
    return [...root.querySelectorAll(selector)].map((t) => t.textContent);
  }
  function measure(plot) {
    const svg = plot.querySelector(".main-svg").getBoundingClientRect();
    const area = plot.querySelector(".nsewdrag");
    const box = area.getBoundingClientRect();
    const xs = rects(plot.querySelectorAll(".xtick text"));
    const ys = rects(plot.querySelectorAll(".ytick text"));
    const point = plot.querySelector(".trace .point").getBoundingClientRect();
    area.dispatchEvent(new MouseEvent("mousemove", {
      bubbles: true, clientX: point.left + point.width / 2, clientY: point.top + point.height / 2,
    }));
    return {
      traces: plot.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length,
      area: [Math.round(box.width), Math.round(box.height)],
      labels: xs.length + ys.length,
      clipped: [...xs, ...ys].filter((r) => !inside(r, svg)).length,
      overlaps: overlapping(xs) + overlapping(ys),
      tooltip: texts(plot, ".hoverlayer text"),
    };
  }
  async function pickLastMetric(plot, found) {
    // open the metric menu as a click would, then pick its last entry
    const header = plot.querySelector(".updatemenu-header");
    if (!header) return;
    header.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await settle();
    const entries = plot.querySelectorAll(".updatemenu-dropdown-button");
    found.menu = [...entries].map((e) => e.textContent);
    entries[entries.length - 1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await settle();
    found.picked = {
      y_title: texts(plot, ".ytitle").join(""),
      traces: plot.querySelectorAll(".scatterlayer .trace").length,
    };
  }
  async function report() {
    const charts = {};
    for (const figure of document.querySelectorAll(".chart")) {
      const plot = figure.querySelector(".plot");
      const title = figure.querySelector("figcaption").textContent;
      if (!plot) {
        charts[title] = figure.querySelector(".note").textContent;
        continue;
      }
      charts[title] = measure(plot);
      await pickLastMetric(plot, charts[title]);
    }
    const out = document.createElement("pre");
    out.id = "probe";
    out.textContent = JSON.stringify({ charts: charts, violations: window.probeViolations });
    document.body.appendChild(out);
  }
  const done = () => document.documentElement.dataset.chartsRendered !== undefined;
  if (done()) { report(); return; }
  new MutationObserver((_, observer) => {
    if (done()) { observer.disconnect(); report(); }
  }).observe(document.documentElement, { attributes: true });
})();
</script>"""


def probe(page: Path, profile: Path) -> dict:
    """What :data:`_PROBE_BODY` measured in an instrumented copy of ``page``."""
    text = page.read_text(encoding="utf-8")
    instrumented = text.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace(
        "</body>", _PROBE_BODY + "</body>", 1
    )
    copy = page.with_name(f"probe-{page.name}")
    copy.write_text(instrumented, encoding="utf-8")
    dom = dump_dom(copy, profile)
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert match, "the charts were never drawn (no data-charts-rendered)"
    return json.loads(html.unescape(match.group(1)))


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
