"""``python -m modelreg``."""

from __future__ import annotations

from modelreg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
