"""The ``edgesnn`` console script. Commands are registered from one module per group."""

from __future__ import annotations

import typer

from edgesnn import __version__
from edgesnn.cli import data_cmds, demo_cmd, device_cmds, firmware_cmds, interop_cmds, learn_cmd, model_cmds

app = typer.Typer(
    name="edgesnn", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Spiking neural networks on small devices: train, quantize, simulate, build, deploy.",
)

# model group
app.command("train")(model_cmds.train_cmd)
app.command("quantize")(model_cmds.quantize_cmd)
app.command("simulate")(model_cmds.simulate_cmd)
app.command("info")(model_cmds.info_cmd)
# interchange group
app.command("import")(interop_cmds.import_cmd)
app.command("export")(interop_cmds.export_cmd)
app.command("convert")(interop_cmds.convert_cmd)
# firmware group
app.command("boards")(firmware_cmds.boards_cmd)
app.command("build")(firmware_cmds.build_cmd)
app.command("verify")(firmware_cmds.verify_cmd)
# device group
app.command("ports")(device_cmds.ports_cmd)
app.command("deploy")(device_cmds.deploy_cmd)
app.command("stream")(device_cmds.stream_cmd)
app.command("learn")(learn_cmd.learn_cmd)
app.command("stdp")(learn_cmd.stdp_cmd)
app.command("evolve")(learn_cmd.evolve_cmd)
# data group
app.add_typer(data_cmds.data_app, name="data")
app.add_typer(data_cmds.events_app, name="events")
app.command("plot")(data_cmds.plot_cmd)
# the whole story
app.command("demo")(demo_cmd.demo_cmd)


@app.command("version")
def version_cmd(json_out: model_cmds.JsonOpt = False):
    """Print the edgesnn version and the integer contract version."""
    from edgesnn.fixedpoint.contract import CONTRACT_VERSION

    model_cmds.emit({"version": __version__, "contract_version": CONTRACT_VERSION}, json_out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
