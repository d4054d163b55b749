"""The CLI as a click command, for the documentation site's generated reference (mkdocs-click)."""

import typer

from edgesnn.cli.app import app

cli = typer.main.get_command(app)
