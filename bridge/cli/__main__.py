"""`python -m bridge.cli`: the same entry point as the `vtex-bridge` script (child processes use it)."""

from bridge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
