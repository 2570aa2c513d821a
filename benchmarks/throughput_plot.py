"""The scaling plot of the throughput benchmark: images/s vs batch per preset, and 1 vs 2 replicas."""


def best_by_batch(results: list[dict], keep) -> dict[int, float]:
    """The best images/s at each batch among the successful rows `keep` accepts."""
    best: dict[int, float] = {}
    for r in results:
        if "error" not in r and keep(r):
            best[r["batch"]] = max(best.get(r["batch"], 0.0), r["images_per_s"])
    return dict(sorted(best.items()))


def series(results: list[dict], preset: str) -> dict[str, dict[int, float]]:
    """Lines for one preset: the tutorial idiom, the best Keras fit row, the best engine row (1 replica)."""
    mine = [r for r in results if r["preset"] == preset]
    lines = {
        "tutorial idiom": best_by_batch(mine, lambda r: r["kind"] == "tutorial"),
        "Keras fit (best row)": best_by_batch(mine, lambda r: r["kind"] == "fit"),
        "engine (best row)": best_by_batch(mine, lambda r: r["kind"] == "engine" and r["strategy"] == "default"),
    }
    return {k: v for k, v in lines.items() if v}


def replica_series(results: list[dict], preset: str = "dcgan_fashion") -> dict[str, dict[int, float]]:
    """The engine with the same settings on 1 replica and on 2 (mirrored over logical CPUs)."""
    mirrored = [r for r in results if r["preset"] == preset and r.get("strategy") == "mirrored" and "error" not in r]
    same = {(r["batch"], r["steps_per_call"], r["update_order"]) for r in mirrored}
    one = best_by_batch(
        results,
        lambda r: (
            r["preset"] == preset
            and r["kind"] == "engine"
            and r["strategy"] == "default"
            and not r["jit"]
            and (r["batch"], r["steps_per_call"], r["update_order"]) in same
        ),
    )
    two = best_by_batch(mirrored, lambda r: True)
    return {k: v for k, v in {"1 replica": one, "2 replicas (mirrored)": two}.items() if v}


def plot(results: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = list(dict.fromkeys(r["preset"] for r in results if r["kind"] != "pipeline"))
    panels = [(p, series(results, p)) for p in presets]
    replicas = replica_series(results)
    if replicas:
        panels.append(("dcgan_fashion engine: 1 vs 2 replicas", replicas))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels, strict=False):
        for label, points in lines.items():
            ax.plot(list(points), list(points.values()), marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({b for pts in lines.values() for b in pts}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("global batch")
        ax.set_ylabel("images/s")
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
