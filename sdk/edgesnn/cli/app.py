"""The ``edgesnn`` console script. Commands are registered from one module per group; every
command calls :mod:`edgesnn.api` and prints (``--json``: one JSON object)."""

from __future__ import annotations

import typer

from edgesnn import api
from edgesnn.cli import data_cmds, demo_cmd, device_cmds, firmware_cmds, interop_cmds, learn_cmd, model_cmds
from edgesnn.cli.common import JsonOpt, emit

app = typer.Typer(
    name="edgesnn",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    ("deploy", device_cmds.deploy_cmd, ["edgesnn deploy digits.qsnn --board qemu-mps2-an385"]),
    (
        "stream",
        device_cmds.stream_cmd,
        [
            "edgesnn stream digits.qsnn --board qemu-mps2-an385",
            "edgesnn stream digits.qsnn --port socket://127.0.0.1:5555 --json",
        ],
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
