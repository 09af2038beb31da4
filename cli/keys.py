"""`flask keys rotate` and `flask keys status`: resealing personal data under the newest of
DATA_KEYS (gateway/store/rotation.py says how; README, "Rotating the data keys", says when)."""

from __future__ import annotations

import click
from flask import Flask

from gateway.store import audit, rotation


def register_keys_cli(app: Flask) -> None:
    services = app.extensions["msaada"]

    @app.cli.group()
    def keys():
        """The keys personal data is sealed under (DATA_KEYS, newest first)."""

    @keys.command("status")
    def keys_status():
        """How much is still sealed under an older key."""
        count = _pending(services)
        click.echo(f"{len(services.settings.data_keys)} key(s) listed; {count} row(s) sealed under an older key"
                   + ("" if count else ": the older keys may go"))

    @keys.command("rotate")
    @click.option("--batch", default=rotation.BATCH, show_default=True, help="rows per transaction")
    def keys_rotate(batch):
        """Reseal under the newest key whatever an older key holds. Safe while the service runs;
        run it again to resume."""
        with click.progressbar(length=_pending(services), label="resealing", show_pos=True) as bar:
            done = rotation.rotate(services.db, batch=batch, progress=bar.update)
        left = _pending(services)
        audit.log(services, "cli", "rotate_keys", None, None, resealed=done, left=left)
        if left:
            raise click.ClickException(f"{done} row(s) resealed, {left} still under an older key: run it again")
        click.echo(f"done: {done} row(s) resealed; the older keys may now be removed from DATA_KEYS")


def _pending(services) -> int:
    try:
        return rotation.pending(services.db())
    finally:
        services.db.remove()

