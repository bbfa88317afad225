"""The submission portal (issue 13): accounts, roles, sessions and the audit trail."""
