"""``python -m mmbench``: the same as the ``mmbench`` command."""

from mmbench.cli import main

if __name__ == "__main__":
    main()
