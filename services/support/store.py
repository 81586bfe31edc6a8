"""Support's own tables and every query on them;
the shared plumbing tables live in ``shared.db``."""

from shared.db import new_metadata

metadata = new_metadata()
