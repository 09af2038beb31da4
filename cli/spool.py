"""`flask spool status|retry`: requests kept while the database was away (gateway/store/spool.py)."""

from __future__ import annotations

import click
from flask import Flask

from gateway.store import audit


def register_spool_cli(app: Flask) -> None:
    """`flask spool status|retry`: requests the database could not take, and those a replay could
    not handle (held apart, never dropped: gateway/store/spool.py)."""
    from gateway.store import spool

    services = app.extensions["msaada"]

    @app.cli.group("spool")
    def spool_group():
        """Requests kept while the database was away."""

    @spool_group.command("status")
    def spool_status():
        click.echo(f"{spool.waiting(services)} waiting for the database; {spool.held(services)} held "
                   "(a replay failed: look at the worker's log, then `flask spool retry`)")

    @spool_group.command("retry")
    def spool_retry():
        """Replay every held request again (after the fault is fixed)."""
        replayed, still = spool.retry_held(services)
        audit.log(services, "cli", "spool_retry", None, None, replayed=replayed, held=still)
        click.echo(f"{replayed} replayed; {still} still held")
