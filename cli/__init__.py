"""Command-line tasks: `flask --app app db upgrade`, `flask --app app directory load`, ..."""

from __future__ import annotations

import click
from flask import Flask

from gateway.conversation.flows import check_flows
from gateway.reference import directory as directory_module
from gateway.store.db import upgrade


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

    @app.cli.command("check-deploy")
    def check_deploy():
        """List every production setting that is missing or unsafe (exit 1 if any)."""
        import os

        from cli.deploy import problems

        found = problems(services, dict(os.environ))
        for line in found:
            click.echo(line)
        if found:
            raise SystemExit(1)
        click.echo("ready for production")

    @app.cli.group()
    def officers():
        """Officers' numbers (from the directory)."""

    @officers.command("pin")
    @click.argument("number")
    @click.option("--pin", prompt="PIN (4 to 8 digits)", hide_input=True, confirmation_prompt=True,
                  help="asked for when not given (never put it in shell history)")
    def officers_pin(number, pin):
        """Set the PIN NUMBER must give to close a case by SMS: RESOLVE <ref> <PIN> <how it ended>."""
        from gateway.cases.officers import set_pin
        from gateway.reference.phones import InvalidPhone, normalise

        try:
            phone = normalise(number)
        except InvalidPhone as exc:
            raise click.BadParameter(str(exc)) from None
        if phone not in services.directory.numbers:
            raise click.BadParameter(f"{phone} is not in the directory ({services.settings.directory_file})")
        if not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise click.BadParameter("the PIN is 4 to 8 digits")
        set_pin(services, phone, pin)
        click.echo(f"PIN set for {phone}")


def register_channel_cli(app: Flask) -> None:
    """`flask channels whatsapp|sms`: send a message to a running Msaada as a provider would."""
    import requests

    from simulator import forms

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
            headers["X-Twilio-Signature"] = forms.twilio_signature(token, url + path, form)
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
        form = forms.whatsapp_form(sender, text, lat, lon, media)
        post(url.rstrip("/"), "/whatsapp/twilio", form, sign=True)

    @channels.command("sms")
    @click.option("--url", default="http://localhost:5000", show_default=True, help="where Msaada runs")
    @click.option("--from", "sender", required=True, help="the sender's number, E.164")
    @click.option("--text", required=True, help="the message, e.g. 'ack KE-7F3K2' from an officer's number")
    @click.option("--provider", type=click.Choice(["twilio", "africastalking"]), default="twilio", show_default=True)
    def sms(url, sender, text, provider):
        """An SMS through Twilio (signed) or Africa's Talking (replies go out through the worker)."""
        if provider == "twilio":
            post(url.rstrip("/"), "/sms/twilio", forms.twilio_sms_form(sender, text), sign=True)
        else:
            path = forms.at_path("/sms/africastalking", services.settings.at_webhook_token)
            post(url.rstrip("/"), path, forms.at_sms_form(sender, text), sign=False)


def register_user_cli(app: Flask) -> None:
    """`flask users create|first-admin|list|disable|password`: the dashboard's accounts."""
    from sqlalchemy import select

    from dashboard.auth import MIN_PASSWORD, end_sessions, hash_password
    from gateway.store import audit
    from gateway.store.models import Role, User

    services = app.extensions["msaada"]

    @app.cli.group()
    def users():
        """Dashboard users."""

    @users.command("create")
    @click.argument("username")
    @click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
    @click.option("--mission", "mission_id", help="the mission id (required for --role mission)")
    @click.password_option(help="asked for when not given (never put it in shell history)")
    def users_create(username, role, mission_id, password):
        """Create a user: operator, mission (with --mission), analyst or admin."""
        username = username.strip().lower()
        if not 1 <= len(username) <= 60:  # the column's width; an empty name would sign in with ""
            raise click.BadParameter("the username needs 1 to 60 characters")
        if role == "mission" and not services.directory.mission(mission_id):
            raise click.BadParameter(f"--mission must be one of: {', '.join(m.id for m in services.directory.missions)}")
        if role != "mission" and mission_id:
            raise click.BadParameter("--mission is only for --role mission")
        if len(password) < 10:
            raise click.BadParameter("the password needs at least 10 characters")
        with services.db.transaction() as session:
            if session.scalar(select(User).where(User.username == username)):
                raise click.ClickException(f"user {username} exists already")
            session.add(User(username=username, password_hash=hash_password(password), role=Role(role),
                             mission_id=mission_id))
            audit.record(session, "cli", "user_created", username, None, role=role, mission=mission_id)
        click.echo(f"user {username} created ({role}{' of ' + mission_id if mission_id else ''})")

    @users.command("first-admin")
    def users_first_admin():
        """On a new installation (no users at all), create `admin` with a random password and
        print it once; it is also kept in the instance folder (`make run` uses this)."""
        import secrets

        with services.db.transaction() as session:
            if session.scalar(select(User.id).limit(1)) is not None:
                return
            password = secrets.token_urlsafe(12)
            session.add(User(username="admin", password_hash=hash_password(password), role=Role.ADMIN))
            audit.record(session, "cli", "user_created", "admin", None, role="admin")
        path = services.settings.instance_path / "admin-password.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        click.echo(f"dashboard user admin created; its password is in {path}")

    @users.command("list")
    def users_list():
        """Every user, with role and mission."""
        for user in services.db().scalars(select(User).order_by(User.username)):
            state = "" if user.active else " (disabled)"
            click.echo(f"{user.username}\t{user.role.value}\t{user.mission_id or ''}{state}")

    @users.command("disable")
    @click.argument("username")
    def users_disable(username):
        """Stop a user signing in (their sessions end at once)."""
        with services.db.transaction() as session:
            user = session.scalar(select(User).where(User.username == username.strip().lower()))
            if user is None:
                raise click.ClickException(f"no user {username}")
            user.active = False
            ended = end_sessions(session, user.id)
            audit.record(session, "cli", "user_disabled", user.username, None, sessions_ended=ended)
        click.echo(f"user {username} disabled")

    @users.command("password")
    @click.argument("username")
    @click.password_option(help="asked for when not given (never put it in shell history)")
    def users_password(username, password):
        """Set a user's password; every browser signed in as them is signed out."""
        if len(password) < MIN_PASSWORD:
            raise click.BadParameter(f"the password needs at least {MIN_PASSWORD} characters")
        with services.db.transaction() as session:
            user = session.scalar(select(User).where(User.username == username.strip().lower()))
            if user is None:
                raise click.ClickException(f"no user {username}")
            user.password_hash = hash_password(password)
            ended = end_sessions(session, user.id)
            audit.record(session, "cli", "password_changed", user.username, None, sessions_ended=ended)
        click.echo(f"password of {user.username} changed; {ended} signed-in session(s) ended")


def register_agency_cli(app: Flask) -> None:
    """`flask agencies import FILE.csv`: the regulator's list of licensed recruitment agencies."""
    from gateway.people import agencies as agencies_module

    services = app.extensions["msaada"]

    @app.cli.group()
    def agencies():
        """Recruitment agencies and their licences."""

    @agencies.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--if-empty", is_flag=True, help="load only when no agency is known yet (a demo list for `make run`)")
    def agencies_import(path, if_empty):
        """Load FILE.csv (licence number, name, status valid/suspended/revoked, expiry YYYY-MM-DD).

        Rows are added or updated by licence number. A bad row is reported by its line number
        and skipped; the others still load.
        """
        from sqlalchemy import select

        from gateway.store.models import Agency

        if if_empty and services.db().scalar(select(Agency.id).limit(1)) is not None:
            click.echo("agencies already loaded; nothing done")
            return
        with open(path, encoding="utf-8-sig", newline="") as lines:
            result = agencies_module.import_rows(
                services.db, agencies_module.read_rows(lines),
                progress=lambda count: click.echo(f"... {count} rows read", err=True))
        for line, reason in result.problems:
            click.echo(f"line {line}: {reason}", err=True)
        click.echo(f"agencies loaded: {result.loaded} ({result.added} new, {result.updated} updated), "
                   f"{len(result.problems)} bad row(s) skipped")


def register_data_cli(app: Flask) -> None:
    """`flask data retention [--dry-run]`: apply the retention rules now (the sweeper does daily);
    `flask people export|erase PHONE|REF`: what is held about a person; erasing it."""
    from gateway.store import retention as retention_module

    services = app.extensions["msaada"]

    @app.cli.group()
    def data():
        """Personal data: how long it is kept."""

    @data.command("retention")
    @click.option("--dry-run", is_flag=True, help="count what would go; change nothing")
    def retention(dry_run):
        """Apply the retention rules (RETENTION, config/settings.py) now, as the daily job does."""
        done = retention_module.apply(services, dry_run=dry_run)
        for kind in retention_module.KINDS:
            days = services.settings.keep_days(kind)
            click.echo(f"{kind:9} kept {days} days: {done[kind]} {'would go' if dry_run else 'done'}")
        if not dry_run:
            from gateway.store import audit

            audit.log(services, "cli", "retention", None, None, **done)

    @app.cli.group()
    def people():
        """A person's data: what is held about them, and erasing it (their rights of access and erasure)."""

    @people.command("export")
    @click.argument("who")
    @click.option("--out", type=click.Path(dir_okay=False), help="write to this file (0600) instead of the screen")
    def people_export(who, out):
        """Everything held about the person WHO names: one of their numbers, or a case reference."""
        import os

        from gateway.people import rights
        from gateway.store import audit

        data = rights.export(services, who)
        if data is None:
            raise click.ClickException("nothing is held about that number or reference")
        text = rights.as_json(data)
        if out:
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
            click.echo(f"written to {out}: {len(data['cases'])} case(s), registration "
                       f"{'yes' if data['registration'] else 'none'}")
        else:
            click.echo(text, nl=False)
        audit.log(services, "cli", "export_person", None, None, cases=len(data["cases"]))

    @people.command("erase")
    @click.argument("who")
    @click.option("--yes", is_flag=True, help="do not ask for confirmation")
    @click.option("--force", is_flag=True,
                  help="erase even while a case of theirs is open: it is closed, and everyone alerted for it told")
    def people_erase(who, yes, force):
        """Erase everything held about the person WHO names (one of their numbers, or a case
        reference); their cases are pseudonymised, so the figures stay. Shows what would go and
        asks first. Refused while a case of theirs is open, unless --force."""
        from gateway.people import rights

        if not rights.understood(who):  # what was typed is not repeated: it may be a number
            raise click.BadParameter(rights.NOT_UNDERSTOOD, param_hint="WHO")
        held = rights.erase(services, who, dry_run=True)
        if held is None or not held.anything:
            others = f"; {held.describe()}" if held is not None else ""
            raise click.ClickException(f"nothing is held about that number or reference{others}")
        click.echo(f"held about them: {held.describe()}")
        if held.open:
            click.echo(f"still open: {', '.join(held.open)}")
        if not (held.open and not force) and not yes:
            click.confirm("Erase all of this? It cannot be undone", abort=True)
        try:
            # The audit entry (written by erase) holds counts only, never the number or reference.
            done = rights.erase(services, who, actor="cli", force=force)
        except rights.StillOpen as refused:
            raise click.ClickException(f"{refused} Once they are safe, close the case first, or erase with "
                                       f"--force, which closes it and tells everyone alerted for it.") from None
        except rights.InFlight as busy:
            raise click.ClickException(str(busy)) from None
        click.echo(f"erased: {done.describe()}" if done is not None else "nothing was left to erase")
