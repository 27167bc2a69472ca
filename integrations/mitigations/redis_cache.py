"""Purge cache keys by glob pattern in Redis (what semantic and response caches such as RedisVL's and LiteLLM's use):
SCAN MATCH in pages, UNLINK in batches (deleted off the server's main thread), counted, then scanned again to
verify. Nothing to undo: a purged cache refills from the model. Connection from a redis:// URL in the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrations.mitigations.base import (
    Applied,
    MitigationRejected,
    MitigationUnavailable,
    MitigationVerificationError,
    secret,
)
from playbook.config import RedisPurgeAction, render_template

if TYPE_CHECKING:  # the client is imported where a purge runs: the worker does not carry it until one does
    import redis

SCAN_PAGE = 1000
UNLINK_BATCH = 500
PASSES = 2  # live traffic may write matching keys while we purge: one more pass, then say what is left


def patterns(action: RedisPurgeAction, variables: dict[str, Any]) -> list[str]:
    found = [render_template(p, variables).strip() for p in action.patterns]
    for p in found:
        if not p.strip("*?[]"):
            raise MitigationRejected(f"pattern '{p}' would purge every key; give a prefix, e.g. semcache:<service>:*")
    return found


def connect(action: RedisPurgeAction) -> redis.Redis:
    import redis

    url = secret(action.url_env, "the redis:// URL of the cache to purge")
    try:
        return redis.Redis.from_url(url, socket_timeout=action.timeout_seconds,
                                    socket_connect_timeout=min(action.timeout_seconds, 10.0))
    except ValueError as err:
        raise MitigationRejected(f"{action.url_env} is not a Redis URL: {err}") from None


def _count(client: redis.Redis, pattern: str, cap: int) -> tuple[int, bool]:
    n = 0
    for _ in client.scan_iter(match=pattern, count=SCAN_PAGE):
        n += 1
        if n >= cap:
            return n, True
    return n, False


def _unlink(client: redis.Redis, names: list[Any]) -> int:
    answer: Any = client.unlink(*names)  # the sync client answers an int (typed for sync and async alike)
    return int(answer)


def _purge(client: redis.Redis, pattern: str, cap: int) -> int:
    deleted, batch = 0, []  # type: tuple[int, list[Any]]
    for name in client.scan_iter(match=pattern, count=SCAN_PAGE):
        batch.append(name)
        if len(batch) >= UNLINK_BATCH:
            deleted += _unlink(client, batch)
            batch = []
        if deleted + len(batch) >= cap:
            break
    if batch:
        deleted += _unlink(client, batch)
    return deleted


def _errors(err: Exception, doing: str) -> Exception:
    import redis

    if isinstance(err, redis.AuthenticationError | redis.ResponseError):
        return MitigationRejected(f"Redis refused {doing}: {err}")
    return MitigationUnavailable(f"Redis did not answer while {doing}: {err}")


class RedisCache:
    kind = "redis_purge"

    def snapshot(self, action: RedisPurgeAction, variables: dict[str, Any]) -> dict[str, Any]:
        import redis

        client, counts = connect(action), {}
        try:
            for p in patterns(action, variables):
                n, capped = _count(client, p, action.max_keys)
                counts[p] = {"keys": n, "capped": capped}
            info = client.info("keyspace")
        except redis.RedisError as err:
            raise _errors(err, "counting keys") from err
        return {"kind": self.kind, "patterns": counts, "keyspace": info}

    def apply(self, action: RedisPurgeAction, variables: dict[str, Any], key: str) -> Applied:
        import redis

        client = connect(action)
        wanted = patterns(action, variables)
        deleted = dict.fromkeys(wanted, 0)
        left: dict[str, int] = {}
        try:
            for _ in range(PASSES):
                for p in wanted:
                    deleted[p] += _purge(client, p, action.max_keys - deleted[p])
                left = {p: _count(client, p, action.max_keys)[0] for p in wanted}
                if not any(left.values()) or sum(deleted.values()) >= action.max_keys:
                    break
        except redis.RedisError as err:
            raise _errors(err, "purging keys") from err
        total = sum(deleted.values())
        shown = ", ".join(f"{p}: {n}" for p, n in deleted.items())
        if any(left.values()):
            why = (f"max_keys ({action.max_keys}) reached" if total >= action.max_keys
                   else "written again while purging: stop what fills the cache first")
            raise MitigationVerificationError(
                f"purged {total} key(s) ({shown}), but reading back still finds "
                + ", ".join(f"{p}: {n}{'+' if n >= action.max_keys else ''}" for p, n in left.items() if n)
                + f" ({why})")
        return Applied(changed=total > 0, detail=f"purged {total} cache key(s) ({shown}); none left (verified)",
                       record={"deleted": deleted, "remaining": left})

    def undo(self, action: RedisPurgeAction, variables: dict[str, Any], restore: dict[str, Any], key: str) -> str:
        raise MitigationRejected("a cache purge cannot be undone; the cache refills from the model")
