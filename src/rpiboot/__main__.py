"""``python -m rpiboot`` runs the same CLI as the ``rpiboot`` command."""

from rpiboot.cli.main import main

raise SystemExit(main())
