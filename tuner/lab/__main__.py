"""``python -m tuner.lab serve ...``: the same as ``chatchat-tune lab serve ...``."""

from tuner.lab.cli import main

main()
