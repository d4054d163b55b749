"""mkdocs hook: docs/cli.md's marker becomes the reference generated from the commands
(``edgesnn.cli.docs.reference_markdown``), so the site always shows the options that exist."""

MARKER = "<!-- edgesnn-cli-reference -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    from edgesnn.cli.docs import reference_markdown

    return markdown.replace(MARKER, reference_markdown())
