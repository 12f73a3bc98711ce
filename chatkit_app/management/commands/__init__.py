"""The ``chatkit_*`` management commands."""
