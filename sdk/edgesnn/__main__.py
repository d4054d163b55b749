"""``python -m edgesnn`` (also what ``torchrun -m edgesnn train ...`` starts on each rank)."""

from edgesnn.cli.app import main

main()
