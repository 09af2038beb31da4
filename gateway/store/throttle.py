"""Limits on abuse, counted in Redis through the `limits` library.

Every limit is named in `config.settings.DEFAULT_LIMITS` (LIMITS overrides them) and counted per
key: a phone number, a client address, a username. Numbers and names never appear in Redis as
they are: keys are keyed hashes. Each refusal is counted for `/metrics`.

A limit never refuses an SOS. Callers ask "may I reply?", "may I send this code?", "may this
address sign in?"; a distress case is stored and escalated whatever the answer.

When Redis is away, limits let everything through: a webhook must answer, and an operator must
be able to sign in, more than an abuser must be stopped for those minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
REFUSED_COUNTS = "msaada:metrics:limited"
BLOCK_KEY = "msaada:block:{}:{}"


class Throttle:
    def __init__(self, redis_client, settings):
        storage = RedisStorage("redis://", connection_pool=redis_client.connection_pool, key_prefix="msaada:limit")
        self.limiter = FixedWindowRateLimiter(storage)  # one INCR (and EXPIRE) per hit
        self.redis = redis_client
        self.secret = settings.secret_key.encode()
        self.rates = {}
        self.settings = settings

    def _items(self, name: str):
        if name not in self.rates:
            self.rates[name] = parse_many(self.settings.limit(name))
        return self.rates[name]

    def key(self, *parts: str) -> str:
        """A keyed hash of what is counted, so Redis holds no number or name in clear."""
        digest = hmac.new(self.secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()
        return digest[:24]

    def hit(self, name: str, *parts: str) -> bool:
        """Count one event against limit `name` for `parts`. False when over the limit."""
        key = self.key(*parts)
        try:
            allowed = all([self.limiter.hit(item, name, key) for item in self._items(name)])
        except RedisError as exc:
            log.warning("limit %s not counted (Redis: %s): allowed", name, type(exc).__name__)
            return True
        if not allowed:
            self.refused(name)
        return allowed

    def test(self, name: str, *parts: str) -> bool:
        """Whether one more event would be within limit `name`, without counting it."""
        key = self.key(*parts)
        try:
            return all(self.limiter.test(item, name, key) for item in self._items(name))
        except RedisError:
            return True

    def retry_after(self, name: str) -> int:
        """Seconds to tell a refused client to wait under limit `name` (its shortest window)."""
        return min(item.get_expiry() for item in self._items(name))

    def block(self, name: str, seconds: int, *parts: str) -> None:
        """Refuse `parts` under `name` for `seconds` (e.g. an officer's number after wrong PINs)."""
        try:
            self.redis.set(BLOCK_KEY.format(name, self.key(*parts)), 1, ex=seconds)
        except RedisError as exc:
            log.warning("block %s not recorded (Redis: %s)", name, type(exc).__name__)

    def blocked(self, name: str, *parts: str) -> bool:
        try:
            return bool(self.redis.exists(BLOCK_KEY.format(name, self.key(*parts))))
        except RedisError:
            return False

    def clear(self, name: str, *parts: str) -> None:
        """Forget the count of `parts` under `name` (e.g. after a successful sign-in)."""
        key = self.key(*parts)
        try:
            for item in self._items(name):
                self.limiter.clear(item, name, key)
        except RedisError:
            pass

    def refused(self, name: str) -> None:
        """Count a refusal under `name` for /metrics (also for refusals no rate decides)."""
        try:
            self.redis.hincrby(REFUSED_COUNTS, name, 1)
        except RedisError:
            pass
