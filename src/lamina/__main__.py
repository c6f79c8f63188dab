"""``python -m lamina``: the same CLI as the ``lamina`` console script."""

from __future__ import annotations

from lamina.cli.main import main

if __name__ == "__main__":
    main()
