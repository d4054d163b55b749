"""The CLI through typer's CliRunner, shared by the command tests."""

import json

from typer.testing import CliRunner

from edgesnn.cli.app import app

runner = CliRunner()


def run_json(*args):
    """Run ``edgesnn ARGS --json``; it must succeed and print one JSON object."""
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)
