"""The documentation held to the code: links that resolve, the README's first incident against the real CLI, and
docs/configuration.md against the playbook schema and the shipped playbook.toml.

Each check reads the pages as a reader would follow them: a relative link must open a file (and its #anchor a
heading there, slugged as GitHub slugs headings); a command of the first incident must be one `firebreak --help`
lists, with options its own `--help` lists; every key must be a row in the table of the schema class that declares
it (the tables carry `<!-- schema: ClassName -->` markers), with the schema's default.
"""

from __future__ import annotations

import enum
import json
import re
import shlex
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import settings
from cli import build_parser
from intake.config import IntakeConfig, intake_config
from playbook.config import Playbook, parse_playbook
from tests.conftest import REPO

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
DOCS = REPO / "docs"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [REPO / "README.md", REPO / "intake" / "README.md", *sorted(DOCS.glob("*.md"))]


# ------------------------------------------------------------------ reading markdown

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def prose(text: str) -> str:
    """The text without fenced blocks, inline code or HTML comments: where links and headings live."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return INLINE_CODE.sub("code", FENCE.sub("", text))


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, https:, mailto: ...


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower-case, punctuation dropped (markdown marks too), spaces to '-', repeats -1, -2."""
    text = re.sub(r"<!--.*?-->", "", FENCE.sub("", page.read_text(encoding="utf-8")), flags=re.S)
    seen: dict[str, int] = {}
    found = set()
    for _, title in HEADING.findall(text):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading counts by its text
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def broken_links(pages: list[Path], root: Path = REPO) -> list[str]:
    problems = []
    for page in pages:
        for target in relative_links(page):
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page.resolve()
            where = f"{page.resolve().relative_to(root.resolve())}: ({target})"
            if not file.exists():
                problems.append(f"{where}: no file {path}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                problems.append(f"{where}: no heading #{anchor} in {file.relative_to(root.resolve())}")
    return problems


# ------------------------------------------------------------------ (a) links, and the table of contents

def test_every_relative_link_opens_a_file_and_its_anchor_a_heading() -> None:
    assert sum(len(relative_links(p)) for p in PAGES) > 50, "the pages should link each other"
    assert broken_links(PAGES) == []


def test_the_link_check_sees_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section (optional)\n\n[ok](#a-section-optional) [self](page.md#title)\n"
                    "[gone](missing.md) [wrong](#no-such-heading) [web](https://example.com/x.md)\n"
                    "`[in code](missing-too.md)`\n", encoding="utf-8")
    assert broken_links([page], root=tmp_path) == [
        "page.md: (missing.md): no file missing.md",
        "page.md: (#no-such-heading): no heading #no-such-heading in page.md"]


@pytest.mark.parametrize("index", ["README.md", "docs/README.md"])
def test_the_table_of_contents_links_every_docs_page(index: str) -> None:
    page = REPO / index
    linked = {(page.parent / t.partition("#")[0]).resolve() for t in relative_links(page)}
    pages = {p.resolve() for p in DOCS.glob("*.md")} - {page.resolve()}
    assert sorted(p.name for p in pages - linked) == [], f"add these pages to the table of contents of {index}"


# ------------------------------------------------------------------ (b) the first incident against the real CLI

def first_incident_commands() -> list[list[str]]:
    """The `firebreak ...` lines of the README's first-incident block, as argv (comments and continuations read
    as the shell reads them)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A first incident"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README's first incident has no sh block"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    return [argv for argv in (shlex.split(line, comments=True) for line in lines) if argv[:1] == ["firebreak"]]


@cache
def cli_help(*words: str) -> str:
    done = subprocess.run([FIREBREAK, *words, "--help"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"firebreak {' '.join(words)} --help failed: {done.stderr}"
    return done.stdout


def subcommands(help_text: str) -> set[str]:
    """The verbs an argparse help lists under its COMMAND positional."""
    listing = help_text.split("\n  COMMAND\n", 1)
    if len(listing) == 1:
        return set()
    return set(re.findall(r"^    ([a-z][a-z0-9-]*)(?:\s|$)", listing[1].split("\n\n", 1)[0], re.M))


def options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def unknown_to_the_cli(commands: list[list[str]]) -> list[str]:
    """Each verb, subcommand and option of `commands` that the real CLI's help does not list."""
    verbs = subcommands(cli_help())
    assert {"declare", "approve", "show"} <= verbs, "could not read the verbs of `firebreak --help`"
    used = {tuple(argv[1:2]) for argv in commands if argv[1:2] and argv[1] in verbs}
    with ThreadPoolExecutor(max_workers=4) as pool:  # one subprocess per verb: run them side by side
        list(pool.map(lambda words: cli_help(*words), used))
    problems = []
    for argv in commands:
        line = shlex.join(argv)
        if len(argv) < 2 or argv[1] not in verbs:
            problems.append(f"{line}: `firebreak --help` lists no such command")
            continue
        words, rest = argv[1:2], argv[2:]
        subs = subcommands(cli_help(*words))
        if subs:
            if not rest or rest[0] not in subs:
                problems.append(f"{line}: `firebreak {words[0]} --help` lists no such subcommand")
                continue
            words, rest = [*words, rest[0]], rest[1:]
        known = options(cli_help(*words))
        problems += [f"{line}: `firebreak {' '.join(words)} --help` lists no option {arg.split('=')[0]}"
                     for arg in rest if arg.startswith("--") and arg.split("=")[0] not in known]
    return problems


def test_every_command_of_the_first_incident_exists_in_firebreak_help() -> None:
    commands = first_incident_commands()
    assert len(commands) >= 10, "the first incident should show the commands of a whole incident"
    assert unknown_to_the_cli(commands) == []
    for argv in commands:  # and each line parses as written: positionals, choices (--role, SEV2) and all
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exc:
            pytest.fail(f"{shlex.join(argv)}: the CLI's parser refuses it (exit {exc.code})")


def test_the_command_check_sees_an_unknown_verb_and_an_unknown_option() -> None:
    assert unknown_to_the_cli([["firebreak", "acknowledge", "INC-1"], ["firebreak", "ack", "INC-1", "--by", "alice"],
                               ["firebreak", "token", "issue", "carol"], ["firebreak", "token", "mint", "carol"]]) == [
        "firebreak acknowledge INC-1: `firebreak --help` lists no such command",
        "firebreak ack INC-1 --by alice: `firebreak ack --help` lists no option --by",
        "firebreak token mint carol: `firebreak token --help` lists no such subcommand"]


# ------------------------------------------------------------------ (c) docs/configuration.md against the schema

def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, through Annotated, unions, lists and dicts."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg)


def schema_models() -> list[type[BaseModel]]:
    """Every model of playbook.toml, from the root down; `[intake]` is a plain table the intake validates as
    IntakeConfig when it starts (intake/config.py, intake_config), so it is walked from there."""
    found: list[type[BaseModel]] = []

    def walk(model: type[BaseModel]) -> None:
        if model not in found:
            found.append(model)
            for info in model.model_fields.values():
                for sub in models_in(info.annotation):
                    walk(sub)
    walk(Playbook)
    walk(IntakeConfig)
    return found


def declared_by(model: type[BaseModel], field: str) -> str:
    """The class that declares the field (a base class for inherited keys): the table it belongs in."""
    return next(c.__name__ for c in model.__mro__ if field in c.__dict__.get("__annotations__", {}))


def marked_tables(text: str) -> list[tuple[list[str], dict[str, list[str]]]]:
    """(schema classes of a marker, key -> the row's cells: key, type, default, meaning) for each marked table."""
    tables = []
    for marker in re.finditer(r"^<!-- schema: ([\w, ]+) -->$", text, re.M):
        body = text[marker.end():]
        stop = re.search(r"^(#{1,6} |<!-- schema:)", body, re.M)
        rows: dict[str, list[str]] = {}
        for row in re.finditer(r"^\| `(\w+)` \|(.*)\|$", body[:stop.start() if stop else len(body)], re.M):
            cells = [c.strip() for c in row.group(2).split(" | ")]
            assert len(cells) == 3, f"the row of `{row.group(1)}` should have 4 cells: {row.group(0)}"
            rows[row.group(1)] = [row.group(1), *cells]
        tables.append(([n.strip() for n in marker.group(1).split(",")], rows))
    return tables


def documented_keys(text: str) -> dict[str, dict[str, list[str]]]:
    """schema class -> its table's rows."""
    tables: dict[str, dict[str, list[str]]] = {}
    for names, rows in marked_tables(text):
        for name in names:
            assert name not in tables, f"two tables are marked {name}"
            tables[name] = rows
    return tables


def render(value: Any) -> str | None:
    """A default as the page writes it (TOML), or None where the page describes it in words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, list) and all(render(v) is not None and not isinstance(v, (list, dict)) for v in value):
        return "[" + ", ".join(typing.cast(str, render(v)) for v in value) + "]"
    return None


def expected_default(info: FieldInfo) -> str | None:
    if info.is_required():
        return "required"
    origin = typing.get_origin(info.annotation)
    if origin is typing.Literal and len(typing.get_args(info.annotation)) == 1:
        return None  # a `kind` tag: which table applies, not a setting
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    shown = render(value)
    return None if shown is None else f"`{shown}`"


def undocumented(tables: dict[str, dict[str, list[str]]], pairs: set[tuple[type[BaseModel], str]]) -> list[str]:
    problems = []
    for model, field in sorted(pairs, key=lambda p: (p[0].__name__, p[1])):
        owner = declared_by(model, field)
        row = tables.get(owner, {}).get(field)
        if owner not in tables:
            problems.append(f"{owner}: no table marked <!-- schema: {owner} --> for its keys ({field} ...)")
        elif row is None:
            problems.append(f"{owner}.{field}: not in its table")
        else:
            default = expected_default(model.model_fields[field])
            if default is not None and not row[2].startswith(default):
                problems.append(f"{owner}.{field}: the default column says {row[2]!r}, the schema {default}")
    return sorted(set(problems))


def schema_pairs() -> set[tuple[type[BaseModel], str]]:
    return {(model, field) for model in schema_models() for field in model.model_fields}


def test_every_schema_field_is_documented_with_its_default() -> None:
    tables = documented_keys(CONFIGURATION.read_text(encoding="utf-8"))
    pairs = schema_pairs()
    assert len(pairs) > 150, "the schema walk should reach every section's models"
    assert undocumented(tables, pairs) == []
    declared = {(declared_by(m, f), f) for m, f in pairs}
    stale = [f"{'/'.join(names)}: {key}" for names, rows in marked_tables(CONFIGURATION.read_text(encoding="utf-8"))
             for key in rows if not any((name, key) in declared for name in names)]
    assert stale == [], "docs/configuration.md documents keys the schema does not have"


def toml_pairs(raw: dict[str, Any], value: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """(model, key) for every key of a TOML table, walking the parsed playbook beside it; the names a person
    chooses (people, actions, services, severities as table keys) are followed, not named."""
    if isinstance(value, BaseModel):
        for key, sub in raw.items():
            assert key in type(value).model_fields, f"playbook.toml key {key} is not in {type(value).__name__}"
            yield type(value), key
            child = intake_config(typing.cast(Playbook, value)) if isinstance(value, Playbook) and key == "intake" \
                else getattr(value, key)
            yield from toml_pairs(sub, child) if isinstance(sub, dict) else iter_list(sub, child)
    elif isinstance(value, dict) and isinstance(raw, dict):
        by_name = {str(getattr(k, "value", k)): v for k, v in value.items()}
        for key, sub in raw.items():
            if isinstance(sub, (dict, list)):
                yield from toml_pairs(sub, by_name[key]) if isinstance(sub, dict) else iter_list(sub, by_name[key])


def iter_list(raw: Any, value: Any) -> Iterator[tuple[type[BaseModel], str]]:
    if isinstance(raw, list):
        for sub, child in zip(raw, value, strict=True):
            if isinstance(sub, dict):
                yield from toml_pairs(sub, child)


def test_every_key_of_the_shipped_playbook_is_documented() -> None:
    text = (REPO / "playbook.toml").read_text(encoding="utf-8")
    pairs = set(toml_pairs(tomllib.loads(text), parse_playbook(text, "playbook.toml")))
    assert len(pairs) > 40 and (Playbook, "communicate") in pairs
    assert undocumented(documented_keys(CONFIGURATION.read_text(encoding="utf-8")), pairs) == []


def test_the_key_check_sees_a_missing_key_a_wrong_default_and_a_missing_table() -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    pairs = schema_pairs()
    assert undocumented(documented_keys(text), pairs) == []
    without_key = re.sub(r"^\| `deadline_hours` \|.*\n", "", text, flags=re.M)
    wrong_default = text.replace("| `max_batch` | integer 1-5000 | `500` |", "| `max_batch` | integer 1-5000 | `50` |")
    without_table = text.replace("<!-- schema: LangfuseConnection -->", "")
    assert undocumented(documented_keys(without_key), pairs) == ["ReviewConfig.deadline_hours: not in its table"]
    assert undocumented(documented_keys(wrong_default), pairs) == [
        "StormConfig.max_batch: the default column says '`50`', the schema `500`"]
    assert undocumented(documented_keys(without_table), pairs) == [
        "LangfuseConnection: no table marked <!-- schema: LangfuseConnection --> for its keys (base_url ...)",
        "LangfuseConnection: no table marked <!-- schema: LangfuseConnection --> for its keys (public_key_env ...)",
        "LangfuseConnection: no table marked <!-- schema: LangfuseConnection --> for its keys (secret_key_env ...)",
        "LangfuseConnection: no table marked <!-- schema: LangfuseConnection --> for its keys (timeout_seconds ...)"]


def test_every_firebreak_variable_is_documented() -> None:
    names = {v for v in vars(settings).values() if isinstance(v, str) and v.startswith("FIREBREAK_")}
    assert len(names) >= 10
    text = CONFIGURATION.read_text(encoding="utf-8")
    assert sorted(n for n in names if f"`{n}`" not in text) == []

