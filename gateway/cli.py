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


def register_channel_cli(app: Flask) -> None:
    """`flask channels whatsapp|sms`: send a message to a running Msaada as a provider would."""
    import uuid

    import requests
    from twilio.request_validator import RequestValidator

    services = app.extensions["msaada"]

    @app.cli.group()
    def channels():
        """Try the chat webhooks by hand (requests signed like Twilio's)."""

    def post(url: str, path: str, form: dict, sign: bool) -> None:
        headers = {}
        if sign:
            token = services.settings.twilio_auth_token
            if not token:
                raise click.ClickException("set TWILIO_AUTH_TOKEN (the same value the server uses)")
            headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url + path, form)
        response = requests.post(url + path, data=form, headers=headers, timeout=15)
        click.echo(f"{response.status_code} {response.text}")

    @channels.command("whatsapp")
    @click.option("--url", default="http://localhost:5000", show_default=True, help="where Msaada runs")
    @click.option("--from", "sender", required=True, help="the sender's number, E.164")
    @click.option("--text", default="", help="the message")
    @click.option("--lat", type=float, help="a shared location: latitude")
    @click.option("--lon", type=float, help="a shared location: longitude")
    @click.option("--media", help="a media URL (a photo, a voice note)")
    def whatsapp(url, sender, text, lat, lon, media):
        """A WhatsApp message through Twilio, signed with TWILIO_AUTH_TOKEN."""
        sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": sid, "SmsMessageSid": sid, "From": f"whatsapp:{sender}", "To": "whatsapp:+14155238886",
                "Body": text, "NumMedia": "0", "ProfileName": "Test", "WaId": sender.lstrip("+")}
        if lat is not None and lon is not None:
            form.update(Latitude=str(lat), Longitude=str(lon))
        if media:
            form.update(NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg")
        post(url.rstrip("/"), "/whatsapp/twilio", form, sign=True)

    @channels.command("sms")
    @click.option("--url", default="http://localhost:5000", show_default=True, help="where Msaada runs")
    @click.option("--from", "sender", required=True, help="the sender's number, E.164")
    @click.option("--text", required=True, help="the message, e.g. 'ack KE-7F3K2' from an officer's number")
    @click.option("--provider", type=click.Choice(["twilio", "africastalking"]), default="twilio", show_default=True)
    def sms(url, sender, text, provider):
        """An SMS through Twilio (signed) or Africa's Talking (replies go out through the worker)."""
        if provider == "twilio":
            sid = "SM" + uuid.uuid4().hex
            post(url.rstrip("/"), "/sms/twilio", {"MessageSid": sid, "From": sender, "To": "+14155550100",
                                                   "Body": text}, sign=True)
        else:
            token = services.settings.at_webhook_token
            path = "/sms/africastalking" + (f"?token={token}" if token else "")
            post(url.rstrip("/"), path, {"from": sender, "to": "22384", "text": text,
                                         "id": "ATXid_" + uuid.uuid4().hex, "date": "", "networkCode": "63902"},
                 sign=False)
