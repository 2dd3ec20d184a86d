"""``python -m boucle`` runs the ``boucle`` command (:func:`boucle.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
