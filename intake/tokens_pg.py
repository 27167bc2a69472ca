"""Personal API tokens in PostgreSQL (`personal_tokens`, integrations/migrations/): the same records as tokens.json,
shared by every intake and by `firebreak token` on any host. Each request looks its token up by hash, so a
revoked token stops working at once everywhere."""

from __future__ import annotations

import hmac

import psycopg

from intake.tokens import TokenRecord, TokenStoreError, digest, new_token
from integrations.pgstore import _redacted, pool
from integrations.store import StoreError


class PostgresTokenStore:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.pool = pool(url)
        except StoreError as err:
            raise TokenStoreError(str(err)) from err

    @property
    def where(self) -> str:
        return f"{_redacted(self.url)} (personal_tokens)"

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[TokenRecord]:
        try:
            with self.pool.connection() as conn:
                rows = conn.execute(sql, params).fetchall()
        except psycopg.Error as err:
            raise TokenStoreError(f"cannot use the token store {self.where}: {err}") from err
        return [TokenRecord(id=r[0], person=r[1], sha256=r[2], created_at=r[3]) for r in rows]

    def issue(self, person: str) -> tuple[str, TokenRecord]:
        token, record = new_token(person)
        self._rows("INSERT INTO personal_tokens (id, person, sha256, created_at) VALUES (%s, %s, %s, %s) "
                   "RETURNING id, person, sha256, created_at",
                   (record.id, record.person, record.sha256, record.created_at))
        return token, record

    def revoke(self, person: str, token_id: str | None = None) -> list[TokenRecord]:
        return self._rows("DELETE FROM personal_tokens WHERE person = %s AND (%s::text IS NULL OR id = %s) "
                          "RETURNING id, person, sha256, created_at", (person, token_id, token_id))

    def list(self) -> list[TokenRecord]:
        return self._rows("SELECT id, person, sha256, created_at FROM personal_tokens ORDER BY person, created_at",
                          ())

    def person_for(self, token: str) -> str | None:
        wanted = digest(token)
        for record in self._rows("SELECT id, person, sha256, created_at FROM personal_tokens WHERE sha256 = %s",
                                 (wanted,)):
            if hmac.compare_digest(wanted.encode(), record.sha256.encode()):
                return record.person
        return None
