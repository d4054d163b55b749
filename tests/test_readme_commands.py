"""Every `edgesnn …` command line shown in the README and the docs parses against the real CLI:
the command exists and every option and argument is one it takes (optional `[...]` parts are
kept, `a|b` alternatives are each tried). The commands themselves run in the other tests."""

import itertools
import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from edgesnn.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _command_lines():
    out = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            line = line.split("  #")[0].strip()
            if "edgesnn " not in line or line.startswith(("#", "|", ">", "pip")) or "`" in line:
                continue
            m = re.search(r"(?:^|-m )edgesnn (.*)$", line)
            if m and not line.endswith("\\"):
                out.append((f"{doc.name}:{n}", m.group(1)))
    return out


def _variants(text: str):
    """The command with its optional [..] parts, each `a|b` alternative spelled out."""
    text = text.replace("[", " ").replace("]", " ")
    tokens = shlex.split(text)
    choices = [t.split("|") if "|" in t and not t.startswith("socket") else [t] for t in tokens]
    for combo in itertools.islice(itertools.product(*choices), 8):
        yield [t for t in combo if t]


CASES = _command_lines()


def test_the_docs_show_commands():
    assert len(CASES) > 30


@pytest.mark.parametrize("where,text", CASES, ids=[c[0] for c in CASES])
def test_documented_command_parses(where, text):
    root = typer.main.get_command(app)
    for args in _variants(text):
        cmd, rest, ctx = root, list(args), None
        while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
            sub = cmd.get_command(click.Context(cmd), rest[0])
            assert sub is not None, f"{where}: no command {rest[0]!r} in: edgesnn {text}"
            cmd, rest = sub, rest[1:]
        try:
            cmd.make_context(cmd.name, rest, resilient_parsing=False)
        except click.UsageError as e:
            pytest.fail(f"{where}: `edgesnn {' '.join(args)}`: {e.format_message()}")
