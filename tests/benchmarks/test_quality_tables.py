"""The quality benchmark's and the recipe search's tables: which evaluation a minute mark reads, best-first rows."""

from benchmarks.quality import format_tables
from benchmarks.recipe_search import format_table
from benchmarks.training_runs import at_minute

METRICS = dict(
    kid=1.0, kid_stderr=0.1, precision=0.8, recall=0.7, density=0.9, coverage=0.5, class_entropy=0.97, class_ratio=2.5
)


def curve(*points):
    return [dict(step=step, train_s=seconds, fid=fid, **METRICS) for step, seconds, fid in points]


def test_a_minute_mark_reads_the_first_evaluation_after_it():
    c = curve((100, 59.0, 500.0), (210, 61.5, 400.0), (500, 301.0, 300.0))
    assert at_minute(c, 1)["step"] == 210
    assert at_minute(c, 5)["step"] == 500
    assert at_minute(c, 10) is None  # the run was shorter


def test_quality_tables_hold_each_recipe_and_mark():
    results = {
        "published": {"preset": "dcgan_fashion", "curve": curve((100, 61.0, 500.0), (900, 600.5, 250.0))},
        "default": {"preset": "dcgan_fashion_fast", "curve": curve((120, 60.5, 450.0), (400, 330.0, 280.0))},
    }
    refs = {"floor": dict(fid=1.1, **METRICS), "noise": dict(fid=961.0, **METRICS)}
    text = format_tables(results, refs, [1, 5, 10, 20], 5000)
    assert "| published | `dcgan_fashion` | 900 | 10.0 min | 250.0 |" in text
    assert "| default | `dcgan_fashion_fast` | 400 | 5.5 min | 280.0 |" in text
    assert "| 1 | 500.0 (step 100) | 450.0 (step 120) |" in text
    assert "| 10 | 250.0 (step 900) |  |" in text
    assert "| 20 |" not in text  # no recipe reached it


def test_search_table_is_best_first_and_names_the_changes():
    def record(trial, preset, overrides, fid, strategy="mirrored"):
        return dict(
            trial=trial,
            preset=preset,
            overrides=overrides,
            strategy=strategy,
            question="q",
            minutes=5,
            final=dict(step=10, fid=fid, **METRICS),
        )

    rows = format_table(
        [
            record("base", "dcgan_fashion_adam", [], 460.0),
            record("published_ema", "dcgan_fashion", ["ema_decay=0.999"], 295.0, "default"),
        ]
    ).splitlines()
    assert rows[2].startswith("| published_ema | `dcgan_fashion` `ema_decay=0.999` `--strategy default` |")
    assert rows[3].startswith("| base | (none) |")


def test_one_engine_train_command_builder_for_every_benchmark(tmp_path):
    from benchmarks.training_runs import train_command

    cmd = train_command(
        "folder",
        "mirrored",
        tmp_path / "r",
        overrides=["d_width=0.5"],
        num_samples=500,
        marks=[2, 10],
        minutes=10.0,
        data_dir="D",
    )
    assert cmd[:3] == ["python", "-m", "engine.train"] and cmd[cmd.index("--preset") + 1] == "folder"
    assert cmd[cmd.index("--set") + 1] == "d_width=0.5" and cmd[cmd.index("--time-limit") + 1] == "10"
    assert cmd[cmd.index("--eval-at-minutes") + 1] == "2,10" and cmd[-2:] == ["--data-dir", "D"]
    plain = train_command("default", "default", tmp_path / "r", num_samples=500)
    assert "--time-limit" not in plain and "--eval-at-minutes" not in plain and "--data-dir" not in plain
