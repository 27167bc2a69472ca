"""`python -m cli`: the same as `firebreak`."""

from cli import main

main()
