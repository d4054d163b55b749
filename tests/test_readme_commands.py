"""Every `edgesnn …` command line shown in the README and the docs (code blocks and commands
quoted in the text) parses against the real CLI:
the command exists and every option and argument is one it takes (optional `[...]` parts are
kept, `a|b` alternatives are each tried). The commands themselves run in the other tests."""

import itertools
import re
import shlex
from pathlib import Path

import pytest
import typer

from edgesnn.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _doc_lines():
    """(where, line, inside a code block) for every line of the README and the docs (fence
    lines themselves left out)."""
    for doc in DOCS:
        fenced = False
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            else:
                yield f"{doc.name}:{n}", line, fenced


def _command_lines():
    """Command lines inside the documents' code blocks."""
    out = []
    for where, line, fenced in _doc_lines():
        line = re.split(r"\s#\s", line)[0].strip()
        m = re.search(r"(?:^|-m )edgesnn (.*)$", line)
        if fenced and m and not line.endswith("\\"):
            out.append((where, m.group(1)))
    return out


def _variants(text: str):
    """The command with its optional [..] parts, each `a|b` alternative spelled out."""
    text = text.replace("[", " ").replace("]", " ")
    tokens = shlex.split(text)
    choices = [t.split("|") if "|" in t and not t.startswith("socket") else [t] for t in tokens]
    for combo in itertools.islice(itertools.product(*choices), 8):
        yield [t for t in combo if t]


CASES = _command_lines()


def _quoted_commands():
    """Commands quoted in the prose (`edgesnn train --board KIT`): often a command's name and a
    few of its options, not a whole line."""
    return [
        (where, m) for where, line, fenced in _doc_lines() if not fenced for m in re.findall(r"`edgesnn ([^`]+)`", line)
    ]


def _command_of(where: str, text: str, args: list[str]):
    """The command ``args`` name (groups followed) and the arguments left for it."""
    # typer may vendor its own click: go by behaviour (groups have get_command), not by class
    cmd, rest = typer.main.get_command(app), list(args)
    while hasattr(cmd, "get_command") and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(cmd.make_context("edgesnn", [], resilient_parsing=True), rest[0])
        assert sub is not None, f"{where}: no command {rest[0]!r} in: `edgesnn {text}`"
        cmd, rest = sub, rest[1:]
    return cmd, rest


QUOTED = _quoted_commands()


def test_the_docs_show_commands():
    assert len(CASES) > 30


@pytest.mark.parametrize("where,text", CASES, ids=[c[0] for c in CASES])
def test_documented_command_parses(where, text):
    for args in _variants(text):
        cmd, rest = _command_of(where, text, args)
        assert not hasattr(cmd, "get_command"), f"{where}: `edgesnn {text}` names a group, not a command"
        try:
            cmd.make_context(cmd.name, rest)
        except Exception as e:  # click's UsageError (NoSuchOption, MissingParameter, BadParameter, ...)
            if not hasattr(e, "format_message"):
                raise
            pytest.fail(f"{where}: `edgesnn {' '.join(args)}`: {e.format_message()}")


def test_a_wrong_option_would_fail():
    """The check above can fail: an unknown option and a missing required one are caught."""
    root = typer.main.get_command(app)
    build = root.get_command(root.make_context("edgesnn", [], resilient_parsing=True), "build")
    for bad in (["m.qsnn", "--board", "host", "--bogus"], ["m.qsnn"]):
        with pytest.raises(Exception, match="No such option|Missing"):
            build.make_context("build", bad)


def test_the_prose_quotes_commands():
    assert len(QUOTED) > 30


@pytest.mark.parametrize("where,text", QUOTED, ids=[c[0] for c in QUOTED])
def test_quoted_command_and_its_options_exist(where, text):
    """The command exists and every option the text names is one of its options."""
    for args in _variants(text):
        cmd, rest = _command_of(where, text, args)
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        for token in rest:
            if token.startswith("--"):
                assert token.split("=")[0] in known, f"{where}: `edgesnn {text}`: {cmd.name} has no option {token}"
