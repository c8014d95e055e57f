"""The `intrex` command line: the composition root that wires `core` (and later `bot`)."""
