"""Command groups of the ``boucle`` command: each module exposes ``add_commands(subparsers)``
(see :mod:`boucle.cli`)."""
