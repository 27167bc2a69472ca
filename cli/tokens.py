"""Personal API tokens for people on the roster: `firebreak token issue`, `revoke` and `ls`."""

from __future__ import annotations

import argparse
import json
import sys

import settings
from cli.common import CliError, _playbook
from intake.tokens import Tokens, TokenStoreError, token_store
from integrations import audit
from integrations.store import open_store
from playbook.render import table


def _tokens() -> Tokens:
    return token_store()


def _audit(what: str, person: str, ids: list[str]) -> None:
    """Token issue and revoke in the audit log: who ran it (FIREBREAK_USER, else the OS user), for whom, which ids."""
    origin = audit.here("cli")
    who = settings.read(settings.USER) or origin.split(" ", 1)[1].split("@", 1)[0]
    audit.safely(lambda: audit.record(open_store(), what, who, origin, details={"person": person, "token_ids": ids}),
                 what)


def cmd_token_issue(args: argparse.Namespace) -> int:
    roster = _playbook(args).roster
    if args.person not in roster.people:
        raise CliError(f"'{args.person}' is not on the roster in {args.playbook}; tokens are for people on the "
                       f"roster ({', '.join(roster.people)})", 2)
    try:
        token, record = _tokens().issue(args.person)
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    _audit("token issued", args.person, [record.id])
    print(token)
    print(f"token {record.id} for {args.person}: shown once, only its hash is kept in {_tokens().where}. "
          f"Send it as 'Authorization: Bearer <token>'.", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    try:
        gone = _tokens().revoke(args.person, args.id)
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    if not gone:
        raise CliError(f"{args.person} has no token{f' {args.id}' if args.id else ''} to revoke")
    _audit("token revoked", args.person, [t.id for t in gone])
    print(f"revoked {len(gone)} token(s) of {args.person}: {', '.join(t.id for t in gone)}")
    return 0


def cmd_token_ls(args: argparse.Namespace) -> int:
    try:
        records = _tokens().list()
    except TokenStoreError as err:
        raise CliError(str(err), 2) from err
    if args.json:
        print(json.dumps([{"id": r.id, "person": r.person, "created_at": r.created_at.isoformat()}
                          for r in records], indent=2))
    elif records:
        print(table(["PERSON", "TOKEN", "CREATED"],
                    [[r.person, r.id, r.created_at.strftime("%Y-%m-%d %H:%M UTC")] for r in records]))
    else:
        print(f"no personal tokens ({_tokens().where})")
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """token issue, revoke, ls"""
    token = subs.add_parser("token", help="personal API tokens for people on the roster (HTTP approvals)")
    token_subs = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    issue = token_subs.add_parser("issue", help="print a new token for PERSON once (only its hash is stored)")
    issue.add_argument("person")
    issue.set_defaults(run=cmd_token_issue)
    revoke = token_subs.add_parser("revoke", help="revoke PERSON's tokens (or one, with --id)")
    revoke.add_argument("person")
    revoke.add_argument("--id", help="only the token with this id (see `firebreak token ls`)")
    revoke.set_defaults(run=cmd_token_revoke)
    token_ls = token_subs.add_parser("ls", help="list the tokens: person, id, created")
    token_ls.add_argument("--json", action="store_true")
    token_ls.set_defaults(run=cmd_token_ls)
