"""The folder quality benchmark's recipe syntax, the length it gives a recipe, and its tables."""

import pytest

from benchmarks.folder_quality import UNREACHABLE_STEPS, format_tables, parse_recipe, training_args

METRICS = dict(kid=0.05, kid_stderr=0.01, precision=0.9, recall=0.6, density=1.1, coverage=0.7)


def test_a_recipe_is_name_preset_and_engine_train_arguments():
    recipe = parse_recipe("folder32=folder --image-size 32 --strategy mirrored --set 'augment=translation,color'")
    assert (recipe["name"], recipe["preset"], recipe["strategy"]) == ("folder32", "folder", "mirrored")
    assert recipe["extra"] == ["--image-size", "32", "--strategy", "mirrored", "--set", "augment=translation,color"]
    assert parse_recipe("folder")["name"] == "folder" and parse_recipe("folder")["strategy"] == "default"


@pytest.mark.parametrize(
    "spec", ["", "a/b=folder", "x= --steps 3", "x=folder --data-dir other", "x=folder --out-dir=y"]
)
def test_bad_recipes_are_one_line_errors(spec):
    with pytest.raises(SystemExit, match="error: --recipe"):
        parse_recipe(spec)


def test_recipes_run_to_the_last_mark_unless_they_set_their_length():
    assert training_args(parse_recipe("f=folder"), [2, 5, 10], quick=False) == [
        "--steps",
        UNREACHABLE_STEPS,
        "--time-limit",
        "10",
    ]
    assert training_args(parse_recipe("f=folder --steps 300"), [2, 5], quick=False) == ["--steps", "300"]
    assert training_args(parse_recipe("f=folder"), [2], quick=True) == []  # --quick: 100 steps (benchmarks.quality)


def test_tables_hold_recipes_floor_noise_and_marks():
    def curve(*points):
        return [dict(step=s, train_s=t, fid=f, **METRICS) for s, t, f in points]

    results = {
        "f32": {
            "preset": "folder",
            "extra": ["--image-size", "32"],
            "curve": curve((900, 121.0, 40.0), (2000, 300, 20)),
        },
        "f64": {"preset": "folder", "extra": [], "curve": curve((300, 125.0, 60.0))},
    }
    refs = {"floor": dict(fid=2.58, **METRICS), "noise": dict(fid=160.9, **METRICS, intra_fid=9.0)}
    features = dict(views=["pixels", "detail"], feature_shape=[32, 32, 3], dims=128, reference_images=1893)
    text = format_tables(results, refs, [2, 5, 10], 1893, {**features, "folder_images": 3786})
    assert "| f32 | `folder --image-size 32` | 2000 | 5.0 min | 20.00 |" in text
    assert "| floor (the other half of the folder) | | | | 2.58 |" in text
    assert "| 2 | 40.00 (step 900) | 60.00 (step 300) |" in text
    assert "| 5 | 20.00 (step 2000) |  |" in text and "| 10 |" not in text
    assert "1893 of its 3786 images" in text and "9.0 |" in text
