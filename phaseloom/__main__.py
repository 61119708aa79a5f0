"""``python -m phaseloom``: the same CLI as the ``phaseloom`` console script."""

from phaseloom.cli.app import main

main()
