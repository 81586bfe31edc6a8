from services.stats.store import metadata
from shared.db import plumbing
from shared.migrations import run_env

run_env([plumbing, metadata])
