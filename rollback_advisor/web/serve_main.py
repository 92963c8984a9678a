"""``python -m rollback_advisor.web.serve_main ...``: the CLI, for spawning a server from tests
and benchmarks with the current interpreter (no dependency on the console script's PATH)."""

from __future__ import annotations

from ..cli import cli

if __name__ == "__main__":
    cli(prog_name="rollback-advisor")
