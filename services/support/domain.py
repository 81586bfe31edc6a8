"""Support's rules. Pure: no I/O, no framework.

The service's domain (see the project's issues) lands here; until then the service only
takes part in platform probes, whose receiving side is shared (``shared.diagnostics``).
"""
