"""Shared parts of the version-control connectors (GitHub, GitLab)."""
