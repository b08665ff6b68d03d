"""Accounts: signing in and setup (auth), teams, members and users (teams)."""
