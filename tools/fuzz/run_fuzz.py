"""Build and run the libFuzzer harness of the C protocol decoder (learning messages and an audio
front end's PCM included) under ASan/UBSan.

    python tools/fuzz/run_fuzz.py [--seconds 60] [--json]

Short runs happen in the tests (tests/test_fuzz.py); the long run is documented in
docs/protocol.md. Seeds the corpus with valid frames of every message type.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CLANG = ("clang-14", "clang")


def find_clang() -> str | None:
    return next((c for c in CLANG if shutil.which(c)), None)


def seed_corpus(corpus: Path, n_inputs: int) -> None:
    from edgesnn.device import codec

    msgs = [
        (codec.HELLO, b""),
        (codec.RESET, b""),
        (codec.PING, b"hello"),
        (codec.STEP_SPARSE, codec.sparse_steps([[0, 1, 2], [], [n_inputs - 1]])),
        (codec.STEP_DENSE, codec.dense_steps([bytes((n_inputs + 7) // 8)])),
        (codec.RESULT, b""),
        (codec.STATS, b""),
        (
            codec.PLASTICITY,
            bytes([2, 4]) + (52429).to_bytes(4, "little") * 2 + bytes([0, 1] * 4) + bytes([0x81, 0xFF, 0x7F, 0]),
        ),
        (codec.LABEL, b"\x03\x00"),
        (codec.READ_WEIGHTS, bytes(4) + b"\x10\x00"),
        (codec.WRITE_WEIGHTS, bytes(4) + b"\x05\xfb"),
        (codec.SAVE, b""),
        (codec.LOAD, b""),
    ]
    flagged = [  # a whole sample in one frame, and a reset with the first of two
        (codec.STEP_DENSE, codec.dense_steps([bytes((n_inputs + 7) // 8)] * 2), codec.FLAG_RESET | codec.FLAG_RESULT),
        (codec.STEP_SPARSE, codec.sparse_steps([[1], [2, 3]]), codec.FLAG_RESET),
        # a continuous stream: its first frame resets, every one reports digest and detections
        (codec.STEP_SPARSE, codec.sparse_steps([[0, 4], [5], []] * 20), codec.FLAG_RESET | codec.FLAG_STREAM),
        (codec.STEP_DENSE, codec.dense_steps([b"\xff" * ((n_inputs + 7) // 8)] * 3), codec.FLAG_STREAM),
        # audio: PCM through the front end (8 samples a timestep), loud and silent
        (codec.STEP_PCM, codec.pcm_steps(np.full((2, 8), -32768, np.int16)), codec.FLAG_RESET | codec.FLAG_RESULT),
        (codec.STEP_PCM, codec.pcm_steps(np.arange(-8, 8, dtype=np.int16).reshape(2, 8) * 4000), codec.FLAG_STREAM),
    ]
    for i, (t, p, f) in enumerate([*((t, p, 0) for t, p in msgs), *flagged]):
        frame = codec.Frame(type=t, seq=i + 1, payload=p, flags=f)
        (corpus / f"seed{i}").write_bytes(codec.encode_frame(frame))


def run(seconds: int, workdir: Path) -> dict:
    from edgesnn.firmware.hostbuild import write_model_sources
    from edgesnn.firmware.paths import templates_dir
    from edgesnn.firmware.render import RUNTIME_CORE
    from edgesnn.fixedpoint import quantize
    from edgesnn.ir import CubaLIF, Dense, Network

    clang = find_clang()
    if clang is None:
        raise SystemExit("error: libFuzzer needs clang (apt-get install clang-14 libclang-rt-14-dev)")
    rng = np.random.default_rng(0)
    net = Network(
        n_inputs=20,
        layers=(
            Dense(
                rng.normal(size=(12, 20)),
                np.zeros(12),
                CubaLIF(np.full(12, 0.8), np.full(12, 0.9), np.ones(12)),
                recurrent=rng.normal(size=(12, 12)),
            ),
        ),
    )
    src = workdir / "src"
    from dataclasses import replace

    from edgesnn.fixedpoint.audio import design_front_end
    from edgesnn.fixedpoint.decision import DecisionRule

    # a decision rule that detects as often as it can (no refractory time): the longest replies;
    # an audio front end of 8 samples a timestep, so that STEP_PCM frames are short enough to mutate
    rule = DecisionRule(decay_shift=1, threshold=1, margin=0, refractory=0, background=11)
    fe = design_front_end(8000, 20, dt_ms=1.0)
    qnet = quantize(net)
    spec = {"decision": rule.as_dict(), "front_end": fe.as_dict()}
    write_model_sources(replace(qnet, input_spec=spec), src, learn_layer=0)
    exe = workdir / "fuzz_proto"
    here = Path(__file__).resolve().parent
    runtime = [
        str(src / f)
        for f in (
            *RUNTIME_CORE,
            "esnn_proto.c",
            "esnn_model.c",
            "esnn_learn.c",
            "esnn_proto_learn.c",
            "esnn_persist.c",
            "esnn_audio.c",
        )  # fmt: skip
    ]
    apps = templates_dir() / "apps"
    subprocess.run(
        [
            clang,
            "-g",
            "-O1",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            f"-I{src}",
            f"-I{apps}",
            str(here / "fuzz_proto.c"),
            str(apps / "device_link.c"),
            *runtime,
            "-o",
            str(exe),
        ],
        check=True,
    )
    corpus = workdir / "corpus"
    corpus.mkdir()
    seed_corpus(corpus, 20)
    res = subprocess.run(
        [str(exe), f"-max_total_time={seconds}", "-print_final_stats=1", str(corpus)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    log = res.stderr
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    crashes = (
        len(list(workdir.glob("crash-*"))) + len(list(workdir.glob("leak-*"))) + len(list(workdir.glob("timeout-*")))
    )
    return {
        "seconds": seconds,
        "inputs_tried": int(runs.group(1)) if runs else None,
        "crashes": crashes,
        "exit_code": res.returncode,
        "corpus_files": len(list(corpus.iterdir())),
        "log_tail": log.strip().splitlines()[-3:],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = run(args.seconds, Path(tmp))
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"fuzzed {out['seconds']} s: {out['inputs_tried']} inputs tried, {out['crashes']} crashes "
            f"(exit {out['exit_code']}), corpus {out['corpus_files']} files"
        )
    sys.exit(1 if out["crashes"] or out["exit_code"] else 0)


if __name__ == "__main__":
    main()
