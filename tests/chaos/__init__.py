"""The chaos suite: the platform as production runs it, under load, with processes and Redis
SIGKILLed and restarted; then every exactly-once invariant checked (see docs/reliability.md)."""
