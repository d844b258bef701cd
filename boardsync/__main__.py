"""`python -m boardsync` is the same as the `boardsync` command."""

from boardsync.cli import run

run()
