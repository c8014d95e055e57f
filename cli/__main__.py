"""`python -m cli` runs the same `intrex` command line."""

from cli.main import main

main()
