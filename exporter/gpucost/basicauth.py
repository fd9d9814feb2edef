"""Basic-auth credentials against the web config's bcrypt hashes, without letting anyone make
a scrape wait for hash work.

bcrypt is slow on purpose (~70 ms at cost 10), so:

- verdicts are cached: a granted credential in its own small cache that refusals cannot
  evict, so a flood of wrong passwords never pushes Prometheus's credential out;
- the caches are consulted on the event loop, before any hash work is queued: an
  already-authorised scrape is answered at once, however many checks wait;
- hash work runs in worker threads, `HASH_CONCURRENCY` at a time; at most `HASH_BACKLOG`
  checks wait for a turn, and a check beyond that is refused as busy (the server answers 429);
- a password over bcrypt's 72 bytes, or one with a NUL byte, can match no hash: refused
  without hashing (the bcrypt library raises on the former);
- an unknown user is checked against a fixed hash, as exporter-toolkit does, so response
  times do not tell which user names exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from enum import Enum

import bcrypt

#: bcrypt reads at most 72 bytes of a password; the library refuses longer ones.
MAX_PASSWORD_BYTES = 72
#: Hash checks run at once (exporter-toolkit runs one at a time).
HASH_CONCURRENCY = 1
#: Hash checks that may wait for a turn; more are refused as busy.
HASH_BACKLOG = 32
#: Cached verdicts: granted credentials (few: one per scraper) and refused ones.
GRANTED_CACHE = 64
REFUSED_CACHE = 1024
#: A modular-crypt bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt
#: and checksum in bcrypt's base-64 alphabet.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
#: Checked for unknown users: bcrypt of a random password nobody knows, cost 10.
_DUMMY_HASH = b"$2b$10$QVh7ndmhyXXrxjyTA1UaA.4iD4uUH3zI4.3Hp8Cm/YyGaXaX04lDW"


class Verdict(Enum):
    GRANTED = "granted"
    REFUSED = "refused"
    BUSY = "busy"  # too many checks waiting; try again


class _LRU:
    """A bounded set of cache keys; the oldest goes when it is full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, key: bytes) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: bytes) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class BasicAuth:
    """Users and their bcrypt hashes, with cached verdicts and bounded hash work."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self.users = dict(users)
        self._granted = _LRU(GRANTED_CACHE)
        self._refused = _LRU(REFUSED_CACHE)
        self._slots: asyncio.Semaphore | None = None
        self.waiting = 0  # checks queued for a hash slot
        self.hashing = 0  # checks being hashed now
        self.busy_refusals = 0

    def _key(self, user: str, password: bytes, hashed: bytes) -> bytes:
        return hashlib.sha256(b"\0".join((user.encode(), password, hashed))).digest()

    def cached(self, user: str, password: str) -> Verdict | None:
        """The verdict without hash work, or None when only bcrypt can tell."""
        secret = password.encode()
        if len(secret) > MAX_PASSWORD_BYTES or b"\0" in secret:
            return Verdict.REFUSED
        key = self._key(user, secret, self.users.get(user, _DUMMY_HASH))
        if key in self._granted:
            return Verdict.GRANTED
        if key in self._refused:
            return Verdict.REFUSED
        return None

    def check(self, user: str, password: str) -> bool:
        """Hash and remember the verdict (blocking: call from a worker thread)."""
        secret = password.encode()
        known = user in self.users
        hashed = self.users[user] if known else _DUMMY_HASH
        ok = False
        if len(secret) <= MAX_PASSWORD_BYTES and b"\0" not in secret:
            try:
                ok = bcrypt.checkpw(secret, hashed) and known
            except ValueError:  # a hash bcrypt cannot read; the config validates hashes
                ok = False
        (self._granted if ok else self._refused).add(self._key(user, secret, hashed))
        return ok

    async def verdict(self, user: str, password: str) -> Verdict:
        """Cached verdicts at once; otherwise a bcrypt check in a worker thread, queued
        behind at most HASH_BACKLOG others (BUSY beyond that)."""
        cached = self.cached(user, password)
        if cached is not None:
            return cached
        if self.waiting >= HASH_BACKLOG:
            self.busy_refusals += 1
            return Verdict.BUSY
        if self._slots is None:
            self._slots = asyncio.Semaphore(HASH_CONCURRENCY)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.hashing += 1
        try:
            # Another request may have settled the same credential while this one waited.
            cached = self.cached(user, password)
            if cached is not None:
                return cached
            ok = await asyncio.to_thread(self.check, user, password)
        finally:
            self.hashing -= 1
            self._slots.release()
        return Verdict.GRANTED if ok else Verdict.REFUSED
