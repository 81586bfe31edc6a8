"""Reports: every tip and every returning person recorded as a case, personal data sealed in
the vault, coded facts published as ``case.received``."""
