"""`firebreak backup OUT` and `firebreak restore IN`: the embedded default's state (embedded/backup.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import settings
from cli.common import CliError
from embedded.backup import BackupError, backup, restore


def cmd_backup(args: argparse.Namespace) -> int:
    url = settings.database_url()
    try:
        manifest = backup(settings.firebreak_home(), args.out, url)
    except BackupError as err:
        raise CliError(str(err)) from err
    print(f"backed up {settings.firebreak_home()} to {args.out}: the Temporal database and "
          f"{len(manifest['files'])} file(s)")
    if url:
        print("the store is in PostgreSQL (FIREBREAK_DATABASE_URL) and is not in this backup: back it up with "
              "pg_dump (docs/store.md)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    home = settings.firebreak_home()
    try:
        manifest = restore(args.source, home)
    except BackupError as err:
        raise CliError(str(err)) from err
    print(f"restored the backup taken {manifest['taken_at']} on {manifest['host']} into {home}; "
          f"`firebreak up` carries on from it")
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """backup, restore"""
    back = subs.add_parser("backup", help="copy $FIREBREAK_HOME (the dev server's database, taken consistently "
                           "while it runs, and the artefact store) to a new folder OUT")
    back.add_argument("out", metavar="OUT", type=Path, help="a new (or empty) folder")
    back.set_defaults(run=cmd_backup)
    rest = subs.add_parser("restore", help="restore a backup folder IN into a new, empty $FIREBREAK_HOME")
    rest.add_argument("source", metavar="IN", type=Path, help="a folder written by `firebreak backup`")
    rest.set_defaults(run=cmd_restore)
