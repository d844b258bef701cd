"""`python -m boardsync` is the same as the `boardsync` command."""

from boardsync.cli import main

raise SystemExit(main())
