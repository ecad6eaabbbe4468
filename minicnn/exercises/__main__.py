"""`python -m minicnn.exercises list | start NAME | check NAME`: the same as `minicnn exercise`."""
import sys

from minicnn.exercises.cli import main

if __name__ == "__main__":
    sys.exit(main())
