"""The SafeReturn services; each runs as its own process and shares only ``shared``."""
