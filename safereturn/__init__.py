"""The ``safereturn`` command: run the platform on one machine and operate it."""
