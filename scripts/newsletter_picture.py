"""Make docs/newsletter.png: a real newsletter, rendered by headless Chromium.

    PYTHONPATH=. .venv/bin/python scripts/newsletter_picture.py [--out docs/newsletter.png]

Runs the two months of feedback in tests/report_corpus.py through the loop (Maildir
in, Maildir out, the TinyDB store), builds November's newsletter with
`mailloop newsletter --preview`, and screenshots the HTML (needs `chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.report_corpus import fill

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "newsletter.png")
    parser.add_argument("--month", default="2026-11")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = fill(folder)
        preview = folder / "preview" / "newsletter.html"
        subprocess.run([sys.executable, "-m", "mailloop", "newsletter", "--month", args.month,
                        "--preview", str(preview), "--config",
                        str(Path(settings.base_dir) / "mailloop.toml")], check=True)
        profile = folder / "chromium-profile"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                        "--hide-scrollbars", f"--screenshot={args.out.resolve()}",
                        "--window-size=800,1400", preview.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
