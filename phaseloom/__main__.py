"""``python -m phaseloom``: the same CLI as the ``phaseloom`` console script."""

from phaseloom.cli import main

main()
