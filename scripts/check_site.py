#!/usr/bin/python3
"""Opens the built Doxygen site in headless Chromium and checks it.

    /usr/bin/python3 scripts/check_site.py build/docs-check/html

One Chromium run loads a small probe page written next to the site; its
script opens the main page and every chapter page (ch00.html, ch01.html, ...)
one after another in a frame, and records for each: its title, its text, every
link (<a href>) and every image with whether the browser could decode it
(naturalWidth > 0). Chromium then prints the probe's DOM (--dump-dom), and this
script requires: every page loaded with a title and its chapter heading, every
image loaded, every internal link resolves to a file of the site, and every
link to a notebook reaches its rendered HTML. Prints "ATP-SKIP: ..." when
Chromium is not installed (scripts/setup.sh installs Debian's chromium).
Chromium runs with a throwaway profile and no network (the flags below).
"""
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--virtual-time-budget=60000"]

PROBE = """<!DOCTYPE html><html><head><title>probe</title></head><body><pre id="result"></pre><script>
const pages = %s;
const out = [];
let i = 0;
function next() {
  if (i >= pages.length) { document.getElementById("result").textContent = "RESULT" + JSON.stringify(out) + "END"; return; }
  const f = document.createElement("iframe");
  f.src = pages[i];
  f.onload = () => {
    const d = f.contentDocument;
    const rec = {page: pages[i], title: d ? d.title : null, text: d && d.body ? d.body.innerText.slice(0, 4000) : "",
                 links: [], images: []};
    if (d) {
      d.querySelectorAll("a[href]").forEach(a => rec.links.push(a.getAttribute("href")));
      d.querySelectorAll("img").forEach(im => rec.images.push([im.getAttribute("src"), im.complete && im.naturalWidth > 0]));
    }
    out.push(rec); f.remove(); i++; next();
  };
  document.body.appendChild(f);
}
next();
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main():
    if len(sys.argv) != 2:
        print("usage: check_site.py SITE_HTML_DIR", file=sys.stderr)
        return 2
    site = Path(sys.argv[1]).resolve()
    browser = chromium()
    if browser is None:
        print("ATP-SKIP: Chromium is not installed (Debian package chromium; scripts/setup.sh installs it)")
        return 0
    if not (site / "index.html").exists():
        print(f"check_site.py: no site at {site} (index.html missing); build it first", file=sys.stderr)
        return 1
    pages = ["index.html"] + sorted(p.name for p in site.glob("ch[0-9][0-9].html"))
    if len(pages) < 8:
        print(f"check_site.py: expected the main page and chapters 0-6, found {pages}", file=sys.stderr)
        return 1
    probe = site / "atp-site-probe.html"
    probe.write_text(PROBE % json.dumps(pages))
    try:
        with tempfile.TemporaryDirectory(prefix="atp-chromium-") as profile:
            run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                                 capture_output=True, text=True, timeout=180)
    finally:
        probe.unlink()
    m = re.search(r"<pre id=\"result\">RESULT(.*?)END</pre>", run.stdout, re.S)
    if run.returncode != 0 or not m:
        print(f"check_site.py: Chromium did not finish the probe (exit {run.returncode}): {run.stderr[-600:]}",
              file=sys.stderr)
        return 1

    records = json.loads(html.unescape(m.group(1)))
    problems, links = [], 0
    if [r["page"] for r in records] != pages:
        problems.append(f"loaded {[r['page'] for r in records]}, expected {pages}")
    for r in records:
        page = site / r["page"]
        if not r["title"]:
            problems.append(f"{r['page']}: no title after loading")
        c = re.match(r"ch(\d\d)\.html", r["page"])
        if c and f"Chapter {int(c.group(1))}" not in r["text"]:
            problems.append(f"{r['page']}: the heading 'Chapter {int(c.group(1))}' is not on the page")
        for src, loaded in r["images"]:
            if not loaded:
                problems.append(f"{r['page']}: image '{src}' did not load")
        for ref in r["links"]:
            url = urlparse(ref)
            if url.scheme in ("http", "https", "mailto", "javascript") or ref.startswith("#") or not url.path:
                continue
            links += 1
            target = (page.parent / unquote(url.path)).resolve()
            if not target.exists():
                problems.append(f"{r['page']}: broken link '{ref}'")
            elif "notebooks/" in ref and target.is_file() and target.suffix != ".html":
                problems.append(f"{r['page']}: notebook link '{ref}' does not reach the rendered HTML")
    for p in problems:
        print("check_site.py: " + p, file=sys.stderr)
    if problems:
        return 1
    images = sum(len(r["images"]) for r in records)
    print(f"check_site.py: {len(records)} pages loaded in Chromium; {images} images loaded, "
          f"{links} internal links resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
