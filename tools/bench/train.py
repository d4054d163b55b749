"""Training time per epoch: edgesnn (float and quantization-aware) vs snnTorch, same network, same run.

    python tools/bench/train.py [--hidden 128] [--timesteps 25] [--batch 32] [--epochs 2] [--threads 1]

Same data (digits train split, rate coded), same 64-H-10 LIF network (beta 0.9, threshold 1,
subtract reset), same loss (cross-entropy on spike counts), Adam. Prints seconds per epoch and
the ratio edgesnn / snnTorch (< 1: edgesnn trains faster).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402,F401  (pins BLAS threads)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--timesteps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import snntorch as snn
    import torch
    from snntorch import surrogate

    from edgesnn.data.datasets import encoded
    from edgesnn.train.loop import train_epoch
    from edgesnn.train.snn import SpikingMLP

    torch.set_num_threads(args.threads)
    x_np, y_np = encoded("digits", "train", {"timesteps": args.timesteps})
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    sizes = [x.shape[2], args.hidden, 10]

    class SnnTorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fcs = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.lifs = torch.nn.ModuleList(
                snn.Leaky(beta=0.9, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=5)) for _ in self.fcs
            )

        def forward(self, xb):
            mems = [lif.reset_mem() for lif in self.lifs]
            out = []
            xb = xb.float()
            for t in range(xb.shape[1]):
                s = xb[:, t]
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                    s, mems[i] = lif(fc(s), mems[i])
                out.append(s)
            return torch.stack(out, 1), mems[-1]

    def epoch_time(model) -> float:
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        times = []
        for _ in range(args.epochs):
            t0 = time.perf_counter()
            train_epoch(model, opt, x, y, args.batch, torch.Generator().manual_seed(0))
            times.append(time.perf_counter() - t0)
        return min(times)

    torch.manual_seed(0)
    res = {
        "network": "-".join(map(str, sizes)),
        "timesteps": args.timesteps,
        "batch": args.batch,
        "threads": args.threads,
        "snntorch_s_per_epoch": epoch_time(SnnTorchNet()),
    }
    torch.manual_seed(0)
    res["edgesnn_float_s_per_epoch"] = epoch_time(SpikingMLP(sizes, 0.9, 1.0))
    torch.manual_seed(0)
    res["edgesnn_qat_s_per_epoch"] = epoch_time(
        SpikingMLP(sizes, 0.9, 1.0, qat={"weight_bits": 8, "state_bits": 24, "per_channel": True})
    )
    res["float_ratio"] = res["edgesnn_float_s_per_epoch"] / res["snntorch_s_per_epoch"]
    res["qat_ratio"] = res["edgesnn_qat_s_per_epoch"] / res["snntorch_s_per_epoch"]
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['network']}  T {args.timesteps}  batch {args.batch}  threads {args.threads}  (seconds per epoch)")
        print(f"  snnTorch Leaky       {res['snntorch_s_per_epoch']:.3f}")
        print(f"  edgesnn float        {res['edgesnn_float_s_per_epoch']:.3f}   ratio x{res['float_ratio']:.2f}")
        print(f"  edgesnn QAT (int)    {res['edgesnn_qat_s_per_epoch']:.3f}   ratio x{res['qat_ratio']:.2f}")


if __name__ == "__main__":
    main()
