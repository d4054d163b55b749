"""The ``edgesnn`` console script. Commands are registered from one module per group; every
command calls :mod:`edgesnn.api` and prints (``--json``: one JSON object)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from edgesnn import api
from edgesnn.cli import (
    data_cmds,
    demo_cmd,
    device_cmds,
    firmware_cmds,
    fleet_cmds,
    interop_cmds,
    learn_cmd,
    model_cmds,
)
from edgesnn.cli.common import JsonOpt, emit

app = typer.Typer(
    name="edgesnn",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: options in two columns at any width, usage in words
    help="Spiking neural networks on small devices: train, quantize, simulate, build, deploy.",
)

#: (command, function, examples shown under --help)
COMMANDS = [
    # model group
    (
        "train",
        model_cmds.train_cmd,
        [
            "edgesnn train --dataset digits --out digits.nir",
            "edgesnn train --dataset saccade-digits --downsample 2 --out sacc.nir",
            "torchrun --standalone --nproc-per-node 2 -m edgesnn train --dataset mine.npz",
        ],
    ),
    ("quantize", model_cmds.quantize_cmd, ["edgesnn quantize digits.nir --out digits.qsnn --json"]),
    (
        "simulate",
        model_cmds.simulate_cmd,
        ["edgesnn simulate digits.qsnn", "edgesnn simulate digits.qsnn --input spikes.npy --save-output out.npz"],
    ),
    ("info", model_cmds.info_cmd, ["edgesnn info digits.qsnn"]),
    # interchange group
    ("import", interop_cmds.import_cmd, ["edgesnn import snntorch.nir --out model.nir --reset subtract-undecayed"]),
    ("export", interop_cmds.export_cmd, ["edgesnn export digits.qsnn --format nir --out digits_q.nir"]),
    ("convert", interop_cmds.convert_cmd, ["edgesnn convert ann.tflite --dataset digits --out snn.nir"]),
    # firmware group
    ("boards", firmware_cmds.boards_cmd, ["edgesnn boards --json"]),
    (
        "build",
        firmware_cmds.build_cmd,
        [
            "edgesnn build digits.qsnn --board qemu-mps2-an385 --out build/m3",
            "edgesnn build digits.qsnn --board my-board.toml",
        ],
    ),
    ("verify", firmware_cmds.verify_cmd, ["edgesnn verify digits.qsnn --board qemu-microbit --count-instructions"]),
    (
        "energy",
        firmware_cmds.energy_cmd,
        ["edgesnn energy digits.qsnn --board qemu-mps2-an386 --cmsis-nn ../CMSIS-NN --json"],
    ),
    # device group
    ("ports", device_cmds.ports_cmd, ["edgesnn ports"]),
    (
        "deploy",
        device_cmds.deploy_cmd,
        ["edgesnn deploy digits.qsnn --board qemu-mps2-an385", "edgesnn deploy digits.qsnn --board host --devices 4"],
    ),
    (
        "stream",
        device_cmds.stream_cmd,
        [
            "edgesnn stream digits.qsnn --board qemu-mps2-an385",
            "edgesnn stream digits.qsnn --port socket://127.0.0.1:5555 --json",
            "edgesnn stream digits.qsnn --board qemu-mps2-an385 --devices 4 --dashboard",
        ],
    ),
    (
        "dashboard",
        fleet_cmds.dashboard_cmd,
        ["edgesnn dashboard digits.qsnn --port /dev/ttyACM0 --port /dev/ttyACM1"],
    ),
    ("learn", learn_cmd.learn_cmd, ["edgesnn learn digits.qsnn --board qemu-mps2-an385 --samples 300 --reinit"]),
    ("stdp", learn_cmd.stdp_cmd, ["edgesnn stdp --dataset digits --out stdp.nir"]),
    ("evolve", learn_cmd.evolve_cmd, ["edgesnn evolve --dataset digits --out evolved.qsnn --generations 300"]),
    # data group (sub-apps `data` and `events` below)
    (
        "plot",
        data_cmds.plot_cmd,
        [
            "edgesnn plot raster digits.qsnn --sample 3 --out raster.png",
            "edgesnn plot events --dataset saccade-digits --out events.png",
        ],
    ),
    # the whole story
    ("demo", demo_cmd.demo_cmd, ["edgesnn demo", "edgesnn demo --board host --epochs 5"]),
]


def _epilog(examples: list[str]) -> str:
    return "Examples:\n\n" + "\n\n".join(f"  $ {e}" for e in examples)


for name, func, examples in COMMANDS:
    app.command(name, epilog=_epilog(examples))(func)
app.add_typer(data_cmds.data_app, name="data", epilog=_epilog(["edgesnn data info saccade-digits --json"]))
app.add_typer(
    data_cmds.events_app, name="events", epilog=_epilog(["edgesnn events from-video clip.gif --out clip.npz --json"])
)


@app.command("version", epilog=_epilog(["edgesnn version --json"]))
def version_cmd(json_out: JsonOpt = False):
    """Print the edgesnn version and the integer contract version."""
    emit(api.version(), json_out)


#: What an option's value is called in --help (click's classic names, not typer's ``<str>``).
METAVARS = {str: "TEXT", Path: "PATH", int: "INTEGER", float: "NUMBER"}


def command(only: str | None = None) -> Any:
    """The click command of the whole CLI, its help in classic words: ``MODEL`` for an
    argument (typer 0.2x writes ``{model}`` and ``<path>``), ``--limit INTEGER`` for an option.
    The metavar and the display hooks are typer's; tests/test_newcomer.py pins the result.

    ``only`` (a top-level command or group name) converts just that one: typer turns every
    annotated parameter of every command into click's at start-up, 0.4 s of the 0.8 s that
    ``edgesnn version`` takes, paid again by each ``simulate`` in a shell loop. ``version`` is
    kept beside it so that the result is still a group (typer collapses a one-command app)."""
    cmd = typer.main.get_command(_only(only) if only and only != "version" else app)
    for sub in _walk(cmd):
        for p in sub.params:
            kind = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            if p.param_type_name == "argument":
                p.metavar = p.name.upper()
                p._usage_display_name = p._rich_display_name = lambda p=p: p.metavar
                p.display_type_rich = lambda ctx=None: ""
            elif not getattr(p, "is_flag", False) and p.metavar is None:
                base = getattr(kind, "__args__", (kind,))[0] if kind is not None else None  # Optional[X]
                p.metavar = METAVARS.get(base, "VALUE") if isinstance(base, type) else "VALUE"
    return cmd


def _only(name: str) -> typer.Typer:
    names = {name, "version"}
    part = copy.copy(app)
    part.registered_commands = [c for c in app.registered_commands if c.name in names]
    part.registered_groups = [g for g in app.registered_groups if g.name in names]
    return part


def _first_word(args: list[str]) -> str | None:
    """The command a command line names, when it names one (not ``--help``, not a typo)."""
    known = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    return args[0] if args and args[0] in known else None


def _walk(cmd: Any) -> list[Any]:
    return [cmd, *(c for sub in getattr(cmd, "commands", {}).values() for c in _walk(sub))]


@contextlib.contextmanager
def generation_bar() -> Iterator[None]:
    """A bar on stderr while a built-in data set is made on first use (minutes, once)."""
    from edgesnn.cli.common import LazyBar
    from edgesnn.data import datasets

    bars: dict[str, tuple[LazyBar, list[int]]] = {}  # label -> (bar, [samples shown])

    def show(label: str, done: int, total: int) -> None:
        bar, shown = bars.setdefault(label, (LazyBar(total, label, True), [0]))
        bar.update(advance=done - shown[0], total=total)
        shown[0] = done

    datasets.GENERATION_PROGRESS = show
    try:
        yield
    finally:
        datasets.GENERATION_PROGRESS = None
        for bar, _ in bars.values():
            bar.__exit__()


def main(args: list[str] | None = None) -> None:
    """The console script: a usage error (unknown option, bad value, missing argument) is one
    ``error:`` line naming it and the help to read, exit 2, as every other error."""
    import sys

    try:  # typer >= 0.24 carries its own click
        from typer._click import exceptions as cx
    except ImportError:  # pragma: no cover
        from click import exceptions as cx  # type: ignore[no-redef]

    cmd = command(only=_first_word(sys.argv[1:] if args is None else args))
    try:
        with generation_bar():
            code = cmd.main(args=args, prog_name="edgesnn", standalone_mode=False)
    except cx.NoArgsIsHelpError:  # `edgesnn` alone, or a group alone: typer printed its help
        code = 0
    except cx.UsageError as e:
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        sys.stderr.write(f"error: {' '.join(e.format_message().split())}{where}\n")
        code = 2
    except cx.ClickException as e:
        sys.stderr.write(f"error: {' '.join(e.format_message().split())}\n")
        code = e.exit_code
    except typer.Abort:
        sys.stderr.write("error: interrupted\n")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
