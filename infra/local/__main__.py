"""`python -m infra.local prepare|up|run`; see infra/local/cli.py."""

from infra.local.cli import main

raise SystemExit(main())
