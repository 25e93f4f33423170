"""``python -m msmix_core``: the same command line as ``msmix``."""

from msmix_core.cli import main

raise SystemExit(main())
