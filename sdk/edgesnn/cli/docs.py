"""The command-line reference of the documentation site, generated from the commands themselves
(``tools/mkdocs_hooks.py`` puts it into docs/cli.md at build time, so it cannot drift): every
command with its usage, arguments, options (value, default, what it does) and examples."""

from __future__ import annotations

from typing import Any

from edgesnn.cli.app import command

cli = command()


def _cell(text: str) -> str:
    """Table-cell text: one line, pipes escaped the way Python-Markdown tables read them."""
    return " ".join(str(text).split()).replace("|", "&#124;")


def _default(p: Any) -> str:
    d = p.default
    if getattr(p, "is_flag", False):
        return "off" if not d else "on"
    if d is None or p.required:
        return "required" if p.required else "-"
    return f"`{d}`"


def commands(cmd: Any = None, prefix: str = "edgesnn") -> list[tuple[str, Any]]:
    """(full name, command) for every command, groups expanded, in the order --help lists them."""
    cmd = cmd or cli
    out = []
    for name, sub in getattr(cmd, "commands", {}).items():
        full = f"{prefix} {name}"
        out.extend(commands(sub, full) if getattr(sub, "commands", None) else [(full, sub)])
    return out


def reference_markdown() -> str:
    parts = []
    for full, cmd in commands():
        ctx = cmd.context_class(cmd, info_name=full)
        usage = " ".join([full, *cmd.collect_usage_pieces(ctx)])
        parts.append(f"## `{full}`\n\n{cmd.help or ''}\n\n```\n{usage}\n```\n")
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        if args:
            parts.append("| argument | what it is |\n|---|---|")
            parts.extend(f"| `{p.metavar or p.name.upper()}` | {_cell(getattr(p, 'help', '') or '')} |" for p in args)
            parts.append("")
        opts = [p for p in cmd.params if p.param_type_name == "option"]
        parts.append("| option | value | default | what it does |\n|---|---|---|---|")
        for p in opts:
            names = " / ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            rec = p.get_help_record(ctx)
            rng = rec[1].rsplit("[", 1)[1].rstrip("]") if rec and rec[1].endswith("]") and "[x" in rec[1] else ""
            value = "" if getattr(p, "is_flag", False) else f"`{p.metavar}`" + (f" ({rng})" if rng else "")
            parts.append(f"| {names} | {value} | {_default(p)} | {_cell(getattr(p, 'help', '') or '')} |")
        parts.append("| `--help` | | | Show the command's help and exit. |\n")
        if cmd.epilog:
            examples = [ln.strip()[2:] for ln in cmd.epilog.splitlines() if ln.strip().startswith("$ ")]
            parts.append("Examples:\n\n```sh\n" + "\n".join(examples) + "\n```\n")
    return "\n".join(parts)
