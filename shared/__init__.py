"""Contracts and plumbing shared by every SafeReturn service."""
