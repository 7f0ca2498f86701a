"""``python -m gui_app`` runs the Loupe command line."""

from gui_app.cli import main

raise SystemExit(main())
