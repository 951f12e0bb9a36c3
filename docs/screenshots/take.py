#!/usr/bin/env python
"""Take the README's screenshots: the main pages at desktop (1280 px) and phone (390 px)
widths, with Playwright and Debian's chromium, into docs/screenshots/*.png.

    DATABASE_URL=postgres://... python docs/screenshots/take.py

It runs ``shots.py`` (next to this file) under pytest, borrowing the test suite's fixtures
(a live server on a scratch database, chromium, the factories), so the pages show a small,
lived-in sandbox (tests/browser/pages.py) and nothing of a real database. A script, not a
test: the suite never collects it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("DEBUG", "true")
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
    sys.path.insert(0, str(ROOT))
    # The suite's conftest modules load as plugins, before pytest-django would set Django up.
    import django
    import pytest

    django.setup()

    return pytest.main(
        [
            "-p",
            "tests.conftest",
            "-p",
            "tests.browser.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            str(Path(__file__).with_name("shots.py")),
            *sys.argv[1:],
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
