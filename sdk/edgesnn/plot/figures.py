"""matplotlib figures (Agg backend, files only): rasters, event frames, confusion, quantization,
accuracy vs timesteps. Each function takes arrays, writes a PNG and returns its path; none
simulates or loads anything (``edgesnn.plot.make`` gathers the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'edgesnn[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return out


def raster(rows: list[tuple[str, np.ndarray]], title: str, out: Path) -> Path:
    """One panel per (name, spikes (T, n)) from input to output; a dot per spike."""
    plt = _plt()
    heights = [max(1.0, min(4.0, s.shape[1] / 40)) for _, s in rows]
    fig, axes = plt.subplots(
        len(rows),
        1,
        figsize=(8, 1.2 + 1.3 * sum(heights)),
        sharex=True,
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (name, s) in zip(axes[:, 0], rows):
        t, n = np.nonzero(np.asarray(s))
        ax.scatter(t, n, s=4 if s.shape[1] < 300 else 1, marker="|" if s.shape[1] < 60 else ".", color="k")
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
        ax.set_ylabel(f"{name}\n({s.shape[1]}, {int(np.sum(s))} spikes)", fontsize=8)
    axes[-1, 0].set_xlabel("timestep")
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def event_frames(frames: np.ndarray, title: str, out: Path, max_panels: int = 10) -> Path:
    """Frames (T, P, H, W) of 0/1 or counts: ON in red, OFF in blue, one panel per time bin."""
    plt = _plt()
    T, P = frames.shape[:2]
    pick = np.unique(np.linspace(0, T - 1, min(T, max_panels)).round().astype(int))
    fig, axes = plt.subplots(1, len(pick), figsize=(1.6 * len(pick), 2.0), squeeze=False)
    for ax, t in zip(axes[0], pick):
        img = np.ones(frames.shape[2:] + (3,))
        on = frames[t, 1 if P > 1 else 0] > 0
        img[on] = (0.85, 0.1, 0.1)
        if P > 1:
            off = frames[t, 0] > 0
            img[off & ~on] = (0.1, 0.25, 0.85)
            img[off & on] = (0.5, 0.0, 0.5)
        ax.imshow(img, interpolation="nearest")
        ax.set_title(f"bin {t}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title + ("   red: ON, blue: OFF" if P > 1 else ""), fontsize=9, y=1.06)
    return _save(fig, out)


def confusion(y: np.ndarray, pred: np.ndarray, classes: int, title: str, out: Path) -> Path:
    plt = _plt()
    m = np.zeros((classes, classes), np.int64)
    np.add.at(m, (y, pred), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * classes, 1.0 + 0.45 * classes))
    ax.imshow(m, cmap="Blues")
    for i in range(classes):
        for j in range(classes):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_title(f"{title}\naccuracy {np.trace(m) / max(1, m.sum()):.2%} ({m.sum()} samples)", fontsize=9)
    return _save(fig, out)


def quantization(layers: list[dict], title: str, out: Path) -> Path:
    """Per layer: float membrane vs integer membrane (in float units) over time for a few
    neurons, and a scatter of all (float, integer) pairs; ``layers`` entries hold ``v_float``
    and ``v_int`` (T, n), ``saturations`` and ``name``."""
    plt = _plt()
    fig, axes = plt.subplots(len(layers), 2, figsize=(10, 2.6 * len(layers)), squeeze=False)
    for row, L in zip(axes, layers):
        vf, vi = L["v_float"], L["v_int"]
        pick = np.argsort(-np.abs(vf).max(axis=0))[:3]
        for k, n in enumerate(pick):
            row[0].plot(vf[:, n], color=f"C{k}", lw=1.2, label=f"n{n} float")
            row[0].plot(vi[:, n], color=f"C{k}", lw=0, marker="x", ms=4, label=f"n{n} integer")
        row[0].set_title(f"{L['name']}: membrane (threshold units)", fontsize=9)
        row[0].legend(fontsize=6, ncol=3)
        row[0].set_xlabel("timestep", fontsize=8)
        row[1].scatter(vf.ravel(), vi.ravel(), s=2, alpha=0.4)
        lim = [min(vf.min(), vi.min()), max(vf.max(), vi.max())]
        row[1].plot(lim, lim, color="grey", lw=0.8)
        err = np.abs(vf - vi)
        row[1].set_title(
            f"integer vs float: max |diff| {err.max():.3g}, states at a limit {L['saturations']}", fontsize=9
        )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def timesteps_curve(points: dict[int, float], title: str, out: Path, label: str = "accuracy") -> Path:
    plt = _plt()
    ts = sorted(points)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(ts, [points[t] for t in ts], marker="o")
    for t in ts:
        ax.annotate(
            f"{points[t]:.1%}", (t, points[t]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7
        )
    ax.set_xlabel("timesteps per sample")
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, out)


def energy_points(points: list[dict], title: str, out: Path) -> Path:
    """Accuracy against energy per inference (log scale): one marker per SNN variant and ANN.
    ``points``: dicts with label, energy_uj, accuracy, kind ("snn" or "ann")."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for kind, marker, color in (("snn", "o", "tab:blue"), ("ann", "s", "tab:orange")):
        pts = [p for p in points if p["kind"] == kind]
        if pts:
            ax.scatter([p["energy_uj"] for p in pts], [p["accuracy"] for p in pts], marker=marker, color=color,
                       label="SNN (edgesnn)" if kind == "snn" else "int8 ANN (CMSIS-NN)")  # fmt: skip
        for p in pts:
            ax.annotate(p["label"], (p["energy_uj"], p["accuracy"]), textcoords="offset points",
                        xytext=(4, 4) if kind == "snn" else (4, -10), fontsize=7)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (µJ, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, out)


def stream_timeline(
    t: np.ndarray,
    rate: np.ndarray,
    segments: np.ndarray,
    detections: list[tuple[float, int, bool]],
    scores: np.ndarray,
    threshold: float,
    names: list[str],
    title: str,
    out: Path,
) -> Path:
    """Three panels over a window of a stream: input events per second with the labelled
    segments shaded, the detections (class, green when a hit), and the decision rule's leaky
    spike count per output with its threshold."""
    plt = _plt()
    fig, (a0, a1, a2) = plt.subplots(3, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 1, 2]})
    a0.plot(t, rate, lw=0.7, color="0.25")
    a0.set_ylabel("input events / s")
    for on, off, c in segments:
        for ax in (a0, a1, a2):
            ax.axvspan(on, off, color="tab:blue", alpha=0.12, lw=0)
        a0.text(
            (on + off) / 2, 1.0, names[int(c)], transform=a0.get_xaxis_transform(), ha="center", va="bottom", fontsize=8
        )
    for ts, c, hit in detections:
        a1.axvline(ts, color="tab:green" if hit else "tab:red", lw=1.2)
        a1.text(
            ts,
            0.5,
            names[c],
            color="tab:green" if hit else "tab:red",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )
    a1.set_yticks([])
    a1.set_ylabel("detections")
    cmap = plt.get_cmap("tab10")
    for k in range(scores.shape[1]):
        bg = names[k] == "background"
        a2.plot(t, scores[:, k], lw=1.4 if bg else 0.8, color="0.35" if bg else cmap(k % 10), label=names[k])
    a2.axhline(threshold, color="k", ls="--", lw=0.8, label="threshold")
    a2.set_ylabel("readout (leaky count)")
    a2.set_xlabel("time (s)")
    a2.legend(ncol=min(6, scores.shape[1] + 1), fontsize=7, loc="upper right")
    a0.set_title(title)
    return _save(fig, out)


def energy_duty(rows: list[dict], title: str, out: Path, crossover: float | None = None) -> Path:
    """Energy per hour of stream against duty (both log scale) for the SNN, the int8 ANN at a
    fixed rate and the gated ANN; ``rows``: the duty sweep of ``edgesnn energy --duty-sweep``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    duty = [r["duty_percent"] for r in rows]
    for key, label, marker in (("snn", "SNN (edgesnn)", "o"), ("ann", "int8 ANN, fixed rate", "s"),
                               ("gated_ann", "int8 ANN, gated", "^")):  # fmt: skip
        ax.plot(duty, [r[key] for r in rows], marker=marker, label=label)
    if crossover is not None:
        ax.axvline(crossover, color="grey", ls="--", lw=0.8)
        ax.annotate(f"crossover {crossover:g} %", (crossover, ax.get_ylim()[1]), fontsize=7, va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("duty: share of the stream holding a digit (%, log scale)")
    ax.set_ylabel("energy per hour (mJ, log scale)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, out)


def audio_spikes(
    samples: np.ndarray, rate: int, spikes: np.ndarray, dt_us: int, centers_hz, title: str, out: Path
) -> Path:
    """The waveform over the front end's spikes, one row per channel labelled by its center."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [1, 2.2]})
    x = np.asarray(samples, np.float64) / (32768.0 if np.asarray(samples).dtype == np.int16 else 1.0)
    top.plot(np.arange(len(x)) / rate, x, lw=0.5, color="0.3")
    top.set_ylabel("audio")
    t, n = np.nonzero(spikes)
    bottom.scatter((t + 0.5) * dt_us / 1e6, n, s=6, marker="|", color="k")
    ticks = list(range(0, spikes.shape[1], max(1, spikes.shape[1] // 8)))
    bottom.set_yticks(ticks, [f"{centers_hz[k]:.0f}" for k in ticks])
    bottom.set_ylim(-0.5, spikes.shape[1] - 0.5)
    bottom.set_ylabel("channel center, Hz")
    bottom.set_xlabel("time, s")
    fig.suptitle(f"{title}: {spikes.shape[1]} channels, {int(spikes.sum())} spikes", fontsize=10)
    return _save(fig, out)
