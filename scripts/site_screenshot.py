"""Take the README's screenshot of the catalog site's model page.

Builds the site of this repository (``modelreg render --site``) into a temporary directory,
opens the model page from disk in Debian's chromium through Playwright (the dev extra) at
1280 x 900, and writes ``docs/img/site-model.png``. Run it after a change to the site's look::

    python scripts/site_screenshot.py [--model NAME] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MODELREG_CHROMIUM", "/usr/bin/chromium")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="bert-classifier", help="the model page to show")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "site-model.png")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright  # dev extra

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        subprocess.run(
            [sys.executable, "-m", "modelreg", "render", "--site", str(site)], cwd=ROOT, check=True
        )
        page_path = site / "models" / args.model / "index.html"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    sys.stderr.write(
        f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
