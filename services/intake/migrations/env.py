import services.intake.app  # noqa: F401 - registers every table on the metadata
from services.intake.store import metadata
from shared.db import plumbing
from shared.migrations import run_env

run_env([plumbing, metadata])
