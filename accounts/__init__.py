"""Accounts: users, posts, roles, the one Scope, two-factor login, API tokens and the security audit log."""
