"""Intake: receives every report and activity, and publishes case events."""
