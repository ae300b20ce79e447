"""Render a page in headless Chromium and report what a reader would see: which images loaded,
which tables and headings are there. Used by the page tests; `make browser` installs Chromium.

The page is copied with a small script appended that, once the window has loaded, writes its
findings into the DOM; ``--dump-dom`` prints the DOM after the load. Flags keep Chromium off the
network and away from any profile (a fresh --user-data-dir per call).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PROBE = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const found = {
    images: images.length,
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt || i.src.slice(0, 60)),
    tables: [...document.querySelectorAll("table")].map((t) => ({
      class: t.className,
      rows: t.rows.length,
      header: t.rows.length ? [...t.rows[0].cells].map((c) => c.textContent.trim()) : [],
    })),
    headings: [...document.querySelectorAll("h1, h2")].map((h) => h.textContent.trim()),
    text: document.body.innerText,
  };
  const out = document.createElement("pre");
  out.id = "genlab-probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""
FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs namespaces it may not get
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",  # let the load event and the probe run before the DOM is dumped
]


def chromium() -> str:
    found = os.environ.get("GENLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise FileNotFoundError(
            "no chromium on PATH: `make browser` (part of `make test`) installs Debian's chromium"
        )
    return found


def render(page: Path, timeout: float = 120) -> dict:
    """What headless Chromium shows for ``page`` (an HTML file): images, broken images, tables, headings."""
    with tempfile.TemporaryDirectory(prefix="genlab-chromium-") as tmp:
        probe_page = Path(tmp) / page.name
        text = page.read_text(encoding="utf-8")
        probe_page.write_text(
            text.replace("</body>", PROBE + "</body>") if "</body>" in text else text + PROBE
        )
        out = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={tmp}/profile", "--dump-dom", probe_page.as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    m = re.search(r'<pre id="genlab-probe">(.*?)</pre>', out.stdout, re.S)
    assert m, f"chromium printed no probe result (exit {out.returncode}): {out.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))
