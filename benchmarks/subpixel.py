"""Subpixel peak finding: argmax vs DeepPoseKit's upsampled-DFT registration vs dpk's fit.

Synthetic Gaussian peaks at random subpixel positions, at output strides 1, 2, 4 and 8
(map sides 192/s), clean, noisy and truncated at the map edge; optionally real maps of a
trained run on its held-out frames (``--run RUN``). Prints error tables (map pixels) and
times, writes ``benchmarks/results/subpixel.json`` and ``subpixel.png``.

DeepPoseKit's method is reimplemented here in numpy from its description and source
(Graving et al. 2019; deepposekit/models/backend): the map is cross-correlated with a
centred Gaussian kernel (size 2**n + 1, n = how often the map side halves evenly; sigma =
target sigma at the output stride) in the Fourier domain, the integer maximum of the
correlation is refined by an upsampled DFT (factor 100, a 1.5-pixel window), and the peak
is the kernel centre minus the shift. Like the original it cannot handle odd map sizes.

Usage: python benchmarks/subpixel.py [--quick] [--run RUN]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import RESULTS, print_table, save_json
from dpk.trainer.peaks import find_peaks
from dpk.trainer.targets import input_to_map, map_to_input

SIGMA = 5.0
INPUT_SIDE = 192
STRIDES = (1, 2, 4, 8)
UPSAMPLE = 100


# --------------------------------------------------------------------------- DPK's method
def _halvings(n: int) -> int:
    count = 0
    while n % 2 == 0 and n > 1:
        n //= 2
        count += 1
    return count


def _upsampled_dft(data: np.ndarray, region: int, factor: int, offsets: np.ndarray) -> np.ndarray:
    h, w = data.shape
    freq_w = np.fft.ifftshift(np.arange(w)) - np.floor(w / 2)
    freq_h = np.fft.ifftshift(np.arange(h)) - np.floor(h / 2)
    col_kernel = np.exp(
        (-2j * np.pi / (w * factor)) * freq_w[:, None] * (np.arange(region) - offsets[1])[None, :]
    )
    row_kernel = np.exp(
        (-2j * np.pi / (h * factor)) * (np.arange(region) - offsets[0])[:, None] * freq_h[None, :]
    )
    return row_kernel @ data @ col_kernel


def dpk_peak(map2d: np.ndarray, sigma_map: float, factor: int = UPSAMPLE) -> tuple[float, float]:
    """(x, y) of one map's peak in map pixels by DeepPoseKit's registration; NaN if it fails."""
    h, w = map2d.shape
    if h % 2 or w % 2:
        return float("nan"), float("nan")  # the original's kernel padding assumes even sides
    size = 2 ** min(_halvings(h), _halvings(w)) + 1
    size = min(size, min(h, w) - 1 if min(h, w) % 2 == 0 else min(h, w))
    if size % 2 == 0:
        size -= 1
    r = np.arange(size) - size // 2
    kernel = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma_map**2))
    row_pad, col_pad = h // 2 - size // 2, w // 2 - size // 2
    src = np.pad(kernel, ((row_pad, row_pad - 1), (col_pad, col_pad - 1)))
    center = np.array([row_pad + size // 2, col_pad + size // 2], dtype=np.float64)
    product = np.fft.fft2(src) * np.conj(np.fft.fft2(map2d))
    correlation = np.abs(np.fft.ifft2(product))
    shifts = np.array(np.unravel_index(np.argmax(correlation), correlation.shape), dtype=np.float64)
    shape = np.array([h, w], dtype=np.float64)
    shifts = np.where(shifts > np.fix(shape / 2), shifts - shape, shifts)
    shifts = np.round(shifts * factor) / factor
    region = int(np.ceil(factor * 1.5))
    dftshift = np.fix(region / 2.0)
    offsets = dftshift - shifts * factor
    upsampled = np.abs(np.conj(_upsampled_dft(np.conj(product), region, factor, offsets)))
    fine = np.array(np.unravel_index(np.argmax(upsampled), upsampled.shape), dtype=np.float64)
    shifts = shifts + (fine - dftshift) / factor
    row, col = center - shifts
    return float(col), float(row)


def dpk_peaks(maps: np.ndarray, sigma_map: float) -> np.ndarray:
    """(N, K, 2) map-pixel peaks of (N, h, w, K) maps by DeepPoseKit's method."""
    n, _, _, k = maps.shape
    out = np.empty((n, k, 2))
    for i in range(n):
        for j in range(k):
            out[i, j] = dpk_peak(maps[i, :, :, j], sigma_map)
    return out


def argmax_peaks(maps: np.ndarray) -> np.ndarray:
    """(N, K, 2) integer map-pixel maxima."""
    n, h, w, k = maps.shape
    flat = maps.transpose(0, 3, 1, 2).reshape(n, k, h * w).argmax(axis=2)
    row, col = np.divmod(flat, w)
    return np.stack([col, row], axis=-1).astype(np.float64)


def dpk_fit_peaks(maps: np.ndarray, stride: int) -> np.ndarray:
    """(N, K, 2) map-pixel peaks by dpk's closed-form fit."""
    found = find_peaks(maps, stride, SIGMA)[..., :2]
    return input_to_map(found, stride)


METHODS = {
    "argmax": lambda maps, stride: argmax_peaks(maps),
    "deepposekit_dft": lambda maps, stride: dpk_peaks(maps, SIGMA / stride),
    "dpk_fit (ours)": dpk_fit_peaks,
}


# ------------------------------------------------------------------------ synthetic maps
def synthetic(stride: int, n: int, k: int, condition: str, rng: np.random.Generator):
    """Maps (N, h, w, K) with Gaussian peaks and their true map-pixel positions (N, K, 2)."""
    side = INPUT_SIDE // stride
    sigma = SIGMA / stride
    if condition == "truncated":
        # true peak within half a pixel of the first or last row/column
        near = rng.uniform(-0.49, 0.5, (n, k, 2))
        far = side - 1 - near
        pick = rng.random((n, k, 2)) < 0.5
        truth = np.where(pick, near, far)
        other = rng.uniform(sigma * 2, side - 1 - sigma * 2, (n, k))
        axis = rng.integers(0, 2, (n, k))
        truth[..., 0] = np.where(axis == 0, truth[..., 0], other)
        truth[..., 1] = np.where(axis == 1, truth[..., 1], other)
    else:
        margin = min(3 * sigma, side / 4)
        truth = rng.uniform(margin, side - 1 - margin, (n, k, 2))
    ys = np.arange(side)[None, :, None, None]
    xs = np.arange(side)[None, None, :, None]
    maps = np.exp(
        -((xs - truth[:, None, None, :, 0]) ** 2 + (ys - truth[:, None, None, :, 1]) ** 2)
        / (2 * sigma**2)
    )
    if condition == "noisy":
        maps = 0.8 * maps + rng.normal(0, 0.05, maps.shape)
    return maps.astype(np.float32), truth


def _stats(errors: np.ndarray) -> dict:
    finite = errors[np.isfinite(errors)]
    if finite.size == 0:
        return {"failed": int(errors.size)}
    return {
        "median": float(np.median(finite)),
        "mean": float(finite.mean()),
        "p95": float(np.percentile(finite, 95)),
        "max": float(finite.max()),
        "failed": int(errors.size - finite.size),
    }


def run_synthetic(n: int, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    results: dict = {}
    for condition in ("clean", "noisy", "truncated"):
        for stride in STRIDES:
            maps, truth = synthetic(stride, n, k, condition, rng)
            for name, method in METHODS.items():
                start = time.perf_counter()
                found = method(maps, stride)
                seconds = time.perf_counter() - start
                errors = np.sqrt(((found - truth) ** 2).sum(-1)).ravel()
                entry = _stats(errors)
                entry["ms_per_map"] = 1000 * seconds / (n * k)
                entry["errors"] = errors.tolist()
                results.setdefault(condition, {}).setdefault(str(stride), {})[name] = entry
    return results


def run_real(run_dir: str) -> dict:
    """Compare the methods on a trained run's maps of its held-out frames."""
    from dpk.trainer.training import load_run

    spec, model = load_run(run_dir)
    check = np.load(f"{run_dir}/check_images.npz")
    images, labels = check["validation"], check["validation_keypoints"]
    outputs = model.predict(images, verbose=0)
    maps = np.asarray(outputs[-1] if isinstance(outputs, list) else outputs)[
        ..., : spec.n_keypoints
    ]
    stride = spec.targets.stride
    truth = labels
    visible = np.isfinite(truth[..., 0])
    out = {}
    for name, method in METHODS.items():
        global SIGMA
        saved, SIGMA = SIGMA, spec.targets.sigma
        try:
            found = map_to_input(method(maps, stride), stride)
        finally:
            SIGMA = saved
        errors = np.sqrt(((found - truth) ** 2).sum(-1))[visible]
        entry = _stats(errors)
        entry["errors"] = errors.tolist()
        out[name] = entry
    return {"run": str(run_dir), "stride": stride, "n_frames": len(images), "methods": out}


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(results)
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 4.2), sharey=True)
    for ax, condition in zip(axes, conditions, strict=True):
        data, labels = [], []
        for stride in map(str, STRIDES):
            for name in METHODS:
                errors = np.asarray(results[condition][stride][name]["errors"])
                errors = errors[np.isfinite(errors)]
                data.append(np.maximum(errors, 1e-7) if errors.size else np.array([np.nan]))
                labels.append(f"1/{stride} {name.split()[0]}")
        ax.boxplot(data, whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=75, fontsize=7)
        ax.set_yscale("log")
        ax.set_title(f"{condition} peaks")
        ax.set_ylabel("error (map pixels, log)")
    fig.suptitle(
        "Subpixel peak error by method and output stride (box: quartiles, whiskers: 5-95%)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer peaks (a few seconds)")
    parser.add_argument("--run", help="also compare on a trained run's held-out frames")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, k = (8, 8) if args.quick else (50, 13)
    results = run_synthetic(n, k, args.seed)
    for condition, by_stride in results.items():
        rows = []
        for stride, by_method in by_stride.items():
            for name, e in by_method.items():
                rows.append(
                    [
                        f"1/{stride}",
                        name,
                        e.get("median", float("nan")),
                        e.get("mean", float("nan")),
                        e.get("p95", float("nan")),
                        e.get("max", float("nan")),
                        e["failed"],
                        e["ms_per_map"],
                    ]
                )
        print_table(
            ["stride", "method", "median", "mean", "p95", "max", "failed", "ms/map (numpy)"],
            rows,
            f"{condition} peaks: error in map pixels ({n * k} peaks per row, sigma {SIGMA} input px)",
        )
    payload = {"n_peaks": n * k, "sigma_input_px": SIGMA, "synthetic": results}
    if args.run:
        real = run_real(args.run)
        rows = [
            [name, e.get("median"), e.get("mean"), e.get("p95"), e.get("max")]
            for name, e in real["methods"].items()
        ]
        print_table(
            ["method", "median", "mean", "p95", "max"],
            rows,
            f"real held-out frames of {args.run}: error vs labels in input pixels (stride {real['stride']})",
        )
        payload["real"] = real
    save_json("subpixel" + ("_quick" if args.quick else ""), payload)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(results, RESULTS / ("subpixel_quick.png" if args.quick else "subpixel.png"))


if __name__ == "__main__":
    main()
