"""Per-key rate limits: token buckets, in-process or shared by every process through Redis.

Every API key has a bucket of ``burst`` tokens refilled at ``rate_per_s``; a
request takes one, and a key with an empty bucket is refused for as long as the
next token takes (``Retry-After``).

* :class:`LocalBuckets` keeps the buckets in this process (the embedded stack:
  one server process).
* :class:`SharedBuckets` keeps them in Redis, as an atomic Lua token bucket that
  all server processes share. So that the hot routes do not pay a Redis round
  trip per request, a process takes tokens from the shared bucket in small
  leases (about 20 ms of the rate) and spends them locally; a refusal is
  remembered locally until its retry time. When Redis is unreachable the
  process falls back to its own in-process buckets (still a limit, per process)
  and records the outage once.

A limiter answers ``admit(key)`` without I/O: the seconds to wait (0.0: go
ahead), or None when only the shared store can tell; then ``admit_shared(key)``
(blocking I/O, run it off the event loop) answers.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from .outages import REDIS, DependencyStates

#: Idle buckets kept before full ones are forgotten (a full bucket is the default).
_MAX_BUCKETS = 100_000


class RateLimiter(Protocol):
    rate_per_s: float
    burst: int

    def admit(self, key: str) -> float | None:
        """Seconds to wait before ``key`` may send a request (0.0: now); None: ask
        :meth:`admit_shared`. No I/O."""
        ...

    def admit_shared(self, key: str) -> float:
        """As :meth:`admit`, asking the shared store (blocking I/O)."""
        ...


class LocalBuckets:
    """Token buckets in this process's memory, one per key."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, at]
        self._lock = threading.Lock()

    def admit(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[key] = [float(self.burst), now]
            tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate_per_s)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / self.rate_per_s

    def admit_shared(self, key: str) -> float:
        return self.admit(key)

    def _forget_full(self, now: float) -> None:
        full_after = self.burst / self.rate_per_s
        self._buckets = {k: b for k, b in self._buckets.items() if now - b[1] < full_after}


#: KEYS[1] the bucket; ARGV rate/s, burst, tokens wanted. Takes up to ``wanted`` whole
#: tokens; returns {granted, seconds until one token as a string} (Lua numbers become
#: integers on the way out). Redis's own clock, so processes need not agree on time.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = math.min(wanted, math.floor(tokens))
local wait = 0
if granted < 1 then
  granted = 0
  wait = (1 - tokens) / rate
else
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(wait)}
"""

#: How long leased tokens may be spent; unspent ones then lapse (stricter, never looser).
_LEASE_S = 1.0


@dataclass(slots=True)
class _Lease:
    tokens: int
    until: float  # monotonic: spend before
    refused_until: float = 0.0


class SharedBuckets:
    """Token buckets in Redis shared by every process, spent locally in small leases."""

    def __init__(self, redis_url: str, rate_per_s: float, burst: int, *,
                 dependencies: DependencyStates | None = None) -> None:
        import redis

        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.lease = max(1, min(self.burst, math.ceil(rate_per_s * 0.02)))
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1.0,
                                          socket_connect_timeout=1.0)
        self._take: Any = self.redis.register_script(_TAKE)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._fallback = LocalBuckets(rate_per_s, burst)
        self._dependencies = dependencies

    def admit(self, key: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            lease = self._leases.get(key)
            if lease is None:
                return None
            if lease.refused_until > now:
                return lease.refused_until - now
            if lease.tokens > 0 and lease.until > now:
                lease.tokens -= 1
                return 0.0
        return None

    def admit_shared(self, key: str) -> float:
        from redis.exceptions import RedisError

        try:
            granted, wait = self._take(keys=[f"ys:rl:{{{key}}}"],
                                       args=[self.rate_per_s, self.burst, self.lease])
        except RedisError as exc:
            if self._dependencies is not None:
                self._dependencies.down(REDIS, exc)
            return self._fallback.admit(key)
        now = time.monotonic()
        granted, wait_s = int(granted), float(wait)
        with self._lock:
            if len(self._leases) >= _MAX_BUCKETS:
                self._leases = {k: v for k, v in self._leases.items()
                                if v.until > now or v.refused_until > now}
            lease = self._leases.get(key)
            if granted == 0:
                if lease is not None and lease.tokens > 0 and lease.until > now:
                    lease.tokens -= 1  # a concurrent lease came in meanwhile: spend it
                    return 0.0
                self._leases[key] = _Lease(0, 0.0, now + wait_s)
                return wait_s
            if lease is not None and lease.until > now:
                # Concurrent misses each lease tokens; keep them all (replacing one
                # lease with another would throw tokens away and refuse too early).
                lease.tokens += granted - 1
                lease.refused_until = 0.0
            else:
                self._leases[key] = _Lease(granted - 1, now + _LEASE_S)
        return 0.0

    def close(self) -> None:
        self.redis.close()


def build_limiter(rate_per_s: float, burst: int, *, redis_url: str | None = None,
                  dependencies: DependencyStates | None = None) -> RateLimiter | None:
    """The limiter settings ask for: None when ``rate_per_s`` is 0 (off), shared through
    Redis when a Redis URL is given, else in-process."""
    if rate_per_s <= 0:
        return None
    if redis_url:
        return SharedBuckets(redis_url, rate_per_s, burst, dependencies=dependencies)
    return LocalBuckets(rate_per_s, burst)
