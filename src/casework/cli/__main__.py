"""``python -m casework.cli``."""

from casework.cli import main

main()
