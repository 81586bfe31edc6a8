"""Notify: routes case events to agencies and integrators."""
