"""The board registry: one TOML file per board in boards/, validated by boards/schema.json
(microcontroller boards) or boards/kit-schema.json (neuromorphic kits, kind ``kit``), and the
named rules a model must pass to fit a microcontroller board (kits: ``edgesnn.kits.rules``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import tomllib

from edgesnn.errors import BoardError, FitError, did_you_mean  # noqa: F401  (FitError re-exported: raised here)
from edgesnn.firmware import layout
from edgesnn.firmware.paths import boards_dir
from edgesnn.firmware.render import model_table_bytes, packed_rows, runtime_graph_problem
from edgesnn.fixedpoint.qnetwork import QuantNetwork


@dataclass(frozen=True)
class Board:
    """A validated board file (see boards/schema.json); ``data`` is the parsed TOML."""

    data: dict[str, Any]
    path: Path

    def __getattr__(self, key: str) -> Any:
        try:
            return self.data[key]
        except KeyError:
            raise AttributeError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def is_kit(self) -> bool:
        return self.data["kind"] == "kit"

    @property
    def stack_bytes(self) -> int:
        return int(self.memory.get("stack_bytes", 2048))

    @property
    def tables_in_ram(self) -> bool:
        """A ROM boot loader copies the whole image into SRAM (ESP32-C3): constants, the model's
        tables among them, are linked into RAM, and count against ``ram_bytes``."""
        return (self.get("baremetal") or {}).get("load") == "rom-to-sram"


@lru_cache(maxsize=2)
def _schema(name: str = "schema.json") -> dict:
    return json.loads((boards_dir() / name).read_text())


def load_board_file(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BoardError(f"{path}: unreadable board file ({e})") from None
    try:
        jsonschema.validate(data, _schema("kit-schema.json" if data.get("kind") == "kit" else "schema.json"))
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise BoardError(f"{path.name}: {where}: {e.message}") from None
    if data["name"] != path.stem:
        raise BoardError(f"{path.name}: name {data['name']!r} does not match the file name")
    if "storage" in data:
        _check_storage(path, data)
    return Board(data=data, path=path)


def _check_storage(path: Path, data: dict) -> None:
    """Flash slots: whole aligned pages, apart, after the image's flash."""
    st, mem = data["storage"], data["memory"]
    image_end = mem.get("flash_origin", 0) + mem["flash_bytes"]
    a, b, n, page = st["slot0"], st["slot1"], st["slot_bytes"], st["page_bytes"]
    if n % page or a % page or b % page:
        raise BoardError(f"{path.name}: storage: slots must be whole pages of {page} bytes at page boundaries")
    if min(a, b) < image_end:
        raise BoardError(
            f"{path.name}: storage: slot at 0x{min(a, b):x} overlaps the image flash (ends at 0x{image_end:x})"
        )
    if abs(a - b) < n:
        raise BoardError(f"{path.name}: storage: slots at 0x{a:x} and 0x{b:x} overlap ({n} bytes each)")


def counts_instructions(board: Board) -> bool:
    """An emulated board whose timer, under QEMU's ``-icount shift=7``, counts instructions."""
    return board.kind == "qemu" and bool(board.get("timer", {}).get("ticks_per_instruction_icount7"))


def all_boards() -> dict[str, Board]:
    return {p.stem: load_board_file(p) for p in sorted(boards_dir().glob("*.toml"))}


def get_board(name: str, *, kits: bool = False) -> Board:
    """A board by name (``boards/NAME.toml``) or a board file of your own (a path ending in .toml,
    validated by the same schema and rules; its ``name`` must match the file name). A
    neuromorphic kit is refused unless ``kits`` (the commands that take kits ask for them)."""
    if str(name).endswith(".toml"):
        custom = Path(name)
        if not custom.is_file():
            raise BoardError(f"board file not found: {custom}")
        b = load_board_file(custom)
    else:
        path = boards_dir() / f"{name}.toml"
        if not path.is_file():
            known = sorted(all_boards())
            raise BoardError(
                f"unknown board {name!r}{did_you_mean(str(name), known)}; known boards: {', '.join(known)}"
            )
        b = load_board_file(path)
    if b.is_kit and not kits:
        raise BoardError(
            f"{b.name} is a neuromorphic kit ({b.chip}): it takes train/quantize/build/verify --board, "
            "not microcontroller firmware commands"
        )
    return b


# --- rules: each names itself, the board, the limit and the layer ---------------------------

#: Flash reserved for the runtime, the serial protocol and start-up code when checking a model.
RUNTIME_FLASH_RESERVE = 8 * 1024


def _fail(rule: str, board: Board, msg: str) -> None:
    raise FitError(f"rule {rule} on board {board.name}: {msg}")


def rule_dialect(board: Board, qnet: QuantNetwork) -> None:
    """Microcontroller firmware computes the edgesnn dialect of the contract."""
    if qnet.dialect != "edgesnn":
        _fail("dialect", board, f"the model is quantized for {qnet.dialect}; firmware runs the edgesnn dialect")


def rule_graph(board: Board, qnet: QuantNetwork) -> None:
    """The C runtime runs chains and graphs of fully connected layers (``esnn_edge_t``); a graph
    with convolutions or pooling runs in the golden simulator only, so far."""
    why = runtime_graph_problem(qnet)
    if why is not None:
        _fail("graph", board, f"the model is a graph and {why}; run it on the host with `edgesnn simulate`")


def rule_index_width(board: Board, qnet: QuantNetwork) -> None:
    """Spike indices are uint16: inputs and neurons per model below 65536."""
    total = 0
    for i, L in enumerate(qnet.layers):
        total += L.n_out
        if L.n_in > 65535 or total > 65535:
            _fail("index-width", board, f"layer {i} pushes the neuron count to {total} (limit 65535)")


def model_ram_bytes(qnet: QuantNetwork) -> int:
    """RAM of esnn_buffers_t: v, i (if any current-based layer), spike lists, scratch (packed
    sums, pooled events and max-pooling flags)."""
    total = sum(L.n_out for L in qnet.layers)
    words = layout.scratch_words(qnet)
    cuba = any(L.current_based for L in qnet.layers)
    events, seen = layout.pooled_scratch(qnet)
    return 4 * total + 4 * (total if cuba else 1) + 2 * total + 2 * len(qnet.layers) + 12 * words + 2 * events + seen


def layer_ram_bytes(qnet: QuantNetwork, index: int) -> int:
    """RAM a layer's own state takes (v, i, spike list) and the packed-sum scratch it needs."""
    L = qnet.layers[index]
    return L.n_out * (6 + (4 if L.current_based else 0)) + 12 * layout.part_words(qnet, index)


def rule_layout(board: Board, qnet: QuantNetwork) -> None:
    """What the C runtime's convolution and pooling support: parameters shared per output
    channel, pooling windows that tile the map, a fully connected output layer (the readout
    reports output neurons in the host's order)."""
    for i, L in enumerate(qnet.layers):
        if L.conv is not None:
            for name in layout.PARAMS:
                if getattr(L, name) is not None and layout.channel_values(L, name) is None:
                    _fail("conv-per-channel", board, f"layer {i}: {name} differs within an output channel")
        if L.pool is not None and not L.pool.tiles:
            _fail("pool-tiles", board, f"layer {i}: pooling stride {L.pool.stride} != kernel {L.pool.kernel}")
    if qnet.layers[-1].conv is not None:
        _fail("dense-output", board, f"layer {len(qnet.layers) - 1}: the output layer must be fully connected")


def rule_flash(board: Board, qnet: QuantNetwork, extra_flash: int = 0) -> None:
    """Model tables fit the flash left after the runtime's reserve (the RAM, where the board
    keeps its constants in RAM: rule_ram counts them there)."""
    if board.tables_in_ram:
        return
    limit = int(board.memory["flash_bytes"]) - RUNTIME_FLASH_RESERVE - extra_flash
    used = 0
    for i, b in enumerate(model_table_bytes(qnet)):
        used += b
        if used > limit:
            _fail(
                "flash",
                board,
                f"layer {i} brings the model tables to {used} bytes; {limit} bytes of flash are free for them",
            )


def rule_ram(board: Board, qnet: QuantNetwork, learn_layer: int | None = None, extra_flash: int = 0) -> None:
    """Model state fits the RAM left after the stack; where the board keeps its constants in RAM,
    the model tables, the runtime's reserve and the app's constants (``extra_flash``) too."""
    limit = int(board.memory["ram_bytes"]) - board.stack_bytes
    need = model_ram_bytes(qnet)
    if board.tables_in_ram:  # plus the runtime's and the app's constants, as rule_flash counts them
        need += sum(model_table_bytes(qnet)) + RUNTIME_FLASH_RESERVE + extra_flash
    if learn_layer is not None:  # the learning layer's rows and traces move to RAM
        L = qnet.layers[learn_layer]
        need += 4 * packed_rows(L.weight)[0].size + 4 * (L.n_in + L.n_out)
    if need > limit:
        sizes = [layer_ram_bytes(qnet, i) for i in range(len(qnet.layers))]
        big = max(range(len(sizes)), key=sizes.__getitem__)
        _fail(
            "ram",
            board,
            f"model {'state and tables' if board.tables_in_ram else 'state'} needs {need} bytes, "
            f"{limit} bytes are free after the stack "
            f"(largest layer: {big}, {qnet.layers[big].n_out} neurons, {sizes[big]} bytes)",
        )


def rule_learning(board: Board, qnet: QuantNetwork, learn_layer: int | None) -> None:
    """On-device plasticity updates a fully connected layer from its inputs' spikes: the layer
    must not be convolutional, pool its input or read a feature map (whose order on the device
    differs from the host's)."""
    if learn_layer is None:
        return
    L = qnet.layers[learn_layer]
    why = None
    if not qnet.is_chain:
        why = "is in a graph (learning runs chains of layers)"
    elif L.conv is not None:
        why = "is convolutional"
    elif L.pool is not None:
        why = "pools its input"
    elif learn_layer > 0 and qnet.layers[learn_layer - 1].conv is not None:
        why = "reads a convolution's feature map"
    if why:
        _fail(
            "learn-dense",
            board,
            f"layer {learn_layer} {why}; on-device learning needs a fully connected layer on flat inputs",
        )


RULES = (rule_dialect, rule_graph, rule_index_width, rule_layout, rule_learning, rule_flash, rule_ram)


def check_fits(board: Board, qnet: QuantNetwork, extra_flash: int = 0, learn_layer: int | None = None) -> None:
    """Run every rule; raise FitError naming the first broken one.

    ``extra_flash``: bytes the app adds (e.g. embedded test inputs); ``learn_layer``: a layer
    whose weights must live in RAM."""
    rule_dialect(board, qnet)
    rule_graph(board, qnet)
    rule_index_width(board, qnet)
    rule_layout(board, qnet)
    rule_learning(board, qnet, learn_layer)
    rule_flash(board, qnet, extra_flash)
    rule_ram(board, qnet, learn_layer, extra_flash)
