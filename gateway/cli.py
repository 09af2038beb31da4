"""Command-line tasks: `flask --app app db upgrade`, `flask --app app directory load`, ..."""

from __future__ import annotations

import click
from flask import Flask

from gateway import directory as directory_module
from gateway.db import upgrade
from gateway.flows import check_flows


def register_cli(app: Flask) -> None:
    services = app.extensions["msaada"]

    @app.cli.group()
    def db():
        """Database schema."""

    @db.command("upgrade")
    def db_upgrade():
        """Apply the migrations."""
        upgrade(services.settings.database_url)
        click.echo("database is up to date")

    @app.cli.group()
    def directory():
        """The missions and officers directory."""

    @directory.command("load")
    def directory_load():
        """Mirror DIRECTORY_FILE into the database."""
        with services.db.transaction() as session:
            directory_module.sync(session, services.directory)
        click.echo(f"directory loaded: {len(services.directory.missions)} missions")

    @app.cli.group()
    def flows():
        """Conversation flows."""

    @flows.command("check")
    def flows_check():
        """Check the flows and the texts of every language."""
        engine = services.engine
        registry = engine.registry
        problems = check_flows(engine.flows, actions=registry.actions, validators=registry.validators,
                               sources=registry.sources, guards=registry.guards) + engine.texts.problems()
        for problem in problems:
            click.echo(problem)
        if problems:
            raise SystemExit(1)
        click.echo(f"{len(engine.flows)} flows are sound")
