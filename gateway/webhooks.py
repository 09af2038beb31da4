"""What every webhook adapter shares: reading form fields, refusing bad or unsigned requests,
and answering in the provider's format."""

from __future__ import annotations

import hmac
from functools import wraps

from flask import Response, current_app, request
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

from gateway.reference.phones import InvalidPhone, normalise


class BadRequest(ValueError):
    """The request cannot be understood; the message says why (a 400)."""

    status = 400


class Forbidden(BadRequest):
    """The request is not from who it claims to be (a 403)."""

    status = 403


def refusing(view):
    """Turn BadRequest/Forbidden raised in `view` into a plain-text answer with its reason.

    An address that keeps sending requests we refuse as forged gets 429 past the `refused` limit.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Forbidden as exc:
            throttle = current_app.extensions["msaada"].throttle
            if not throttle.hit("refused", request.remote_addr or ""):
                return plain("too many refused requests", 429)
            return plain(str(exc), exc.status)
        except BadRequest as exc:
            return plain(str(exc), exc.status)

    return wrapper


def required(name: str, limit: int = 120) -> str:
    value = clean(request.form.get(name, "")).strip()
    if not value:
        raise BadRequest(f"{name}: required")
    if len(value) > limit:
        raise BadRequest(f"{name}: too long")
    return value


def optional(name: str, limit: int) -> str | None:
    """A free-text field, cut to what we store; None when absent or blank."""
    return clean(request.form.get(name, ""))[:limit].strip() or None


def clean(text: str) -> str:
    """Text as a database will take it: NUL characters (some gateways send "@" as one) dropped."""
    return text.replace("\x00", "")


def phone(name: str, prefix: str = "") -> str:
    """A form field holding a phone number (optionally behind `prefix`, e.g. "whatsapp:"), as E.164."""
    value = required(name)
    if prefix and not value.startswith(prefix):
        raise BadRequest(f"{name}: expected {prefix}+<number>")
    try:
        return normalise(value.removeprefix(prefix))
    except InvalidPhone as exc:
        raise BadRequest(f"{name}: {exc}") from None


def check_at_token(settings) -> None:
    """Africa's Talking signs nothing: its callbacks must carry AT_WEBHOOK_TOKEN as `?token=`.
    Without one configured, nothing that claims to come from AT is believed."""
    expected = settings.at_webhook_token
    if not expected:
        raise Forbidden("Africa's Talking requests are refused: AT_WEBHOOK_TOKEN is not set")
    if not hmac.compare_digest(request.args.get("token", "").encode(), expected.encode()):
        raise Forbidden("token: missing or wrong")


def check_twilio_signature(settings) -> None:
    """X-Twilio-Signature over the URL Twilio called and every form field.

    Behind a proxy Flask sees an internal URL, so the URL is rebuilt from PUBLIC_BASE_URL
    when it is set.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.twilio_auth_token:
        raise Forbidden("Twilio requests are refused: TWILIO_AUTH_TOKEN is not set")
    if not signature:
        raise Forbidden("X-Twilio-Signature: missing")
    url = public_url(settings)
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature, algorithm):
        raise Forbidden("X-Twilio-Signature: does not match")


def public_url(settings) -> str:
    """The URL the provider called, as it saw it."""
    if not settings.public_base_url:
        return request.url
    query = request.query_string.decode("latin-1")
    return settings.public_base_url + request.path + (f"?{query}" if query else "")


def plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def twiml(text: str | None) -> Response:
    """A TwiML answer: the reply as one message, or nothing to send."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return Response(str(response), mimetype="text/xml")
