"""Verification: verifies and identifies victims within legal deadlines, and orders protection."""
