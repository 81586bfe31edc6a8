"""Contracts and plumbing shared by every SafeReturn service."""

from importlib.metadata import version

VERSION = version("safereturn")
