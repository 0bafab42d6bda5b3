"""Figures: each drawn for the runs it fits, refused with a clear line where it does not."""

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from conftest import make_settings

from mlplab import plots
from mlplab.job import run_single
from mlplab.settings import ConfigError

ALWAYS = {"curves.png"}


@pytest.fixture
def drawn(monkeypatch):
    """The figures drawn, by file name, caught just before they are saved."""
    figures = {}
    save = plots._save

    def keep(fig, path):
        figures[path.name] = {
            "texts": [t.get_text() for ax in fig.axes for t in ax.texts],
            "titles": [ax.get_title() for ax in fig.axes],
            "legend": [
                t.get_text()
                for ax in fig.axes
                if ax.get_legend()
                for t in ax.get_legend().get_texts()
            ],  # fmt: skip
            "axes": len(fig.axes),
        }
        save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def pngs(run_dir):
    return {p.name for p in run_dir.glob("*.png")}


def opens(path) -> tuple[int, int]:
    image = matplotlib.image.imread(path)  # a real PNG, decodable, not just a name
    assert image.ndim == 3 and np.ptp(image) > 0  # not blank
    return image.shape[:2]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["dataset=two_moons"], {"boundary.png", "neurons.png", "activations_init.png"}),
        (["dataset=spiral", "model.hidden=[40]"], {"boundary.png", "neurons.png", "activations_init.png"}),
        (["dataset=sine"], {"fit_1d.png", "activations_init.png"}),
        (["dataset=sawtooth", "model.hidden=[8,8]"], {"fit_1d.png", "activations_init.png"}),
        (["dataset=iris"], {"activations_init.png"}),
        (["dataset=diag_flip"], {"activations_init.png"}),  # regression, but 4 inputs
        (["dataset=two_moons", "model.hidden=[]"], {"boundary.png"}),  # no hidden layer
        (["dataset=sine", "model.hidden=[]"], {"fit_1d.png"}),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)  # fmt: skip
def test_each_figure_is_drawn_for_the_runs_it_fits(tmp_path, overrides, expected):
    run_single(make_settings(*overrides, "trainer.epochs=3"), tmp_path)
    assert pngs(tmp_path) == ALWAYS | expected
    for name in expected:
        height, width = opens(tmp_path / name)
        assert height > 200 and width > 300, name


def test_the_figures_show_what_their_names_say(tmp_path, drawn):
    sine = run_single(make_settings("dataset=sine", "model.hidden=[12]", "trainer.epochs=60"),
                   tmp_path / "sine")  # fmt: skip
    legend = drawn["fit_1d.png"]["legend"]
    assert {"train data", "val data", "network"} <= set(legend)
    # the kinks marked are the regions counted in result.json
    assert f"kinks ({sine['linear_regions']} linear regions)" in legend
    act = drawn["activations_init.png"]
    assert act["axes"] == 1 + 1  # the scale-by-layer panel and one histogram per layer
    assert act["titles"][1].startswith("layer 1\nstd ")

    run_single(make_settings("dataset=two_moons", "model.hidden=[5,3]", "trainer.epochs=3"),
            tmp_path / "moons")  # fmt: skip
    # one tile per unit of the first hidden layer, no more
    assert [t.split(" (")[0] for t in drawn["neurons.png"]["texts"]] == [
        f"unit {k}" for k in range(1, 6)
    ]
    assert "first hidden layer" in drawn["neurons.png"]["titles"][0]
    assert [t for t in drawn["activations_init.png"]["titles"] if t.startswith("layer")] == [
        "layer 1\n" + drawn["activations_init.png"]["titles"][1].split("\n")[1],
        "layer 2\n" + drawn["activations_init.png"]["titles"][2].split("\n")[1],
    ]


def test_a_dead_unit_is_marked_in_the_heatmaps(tmp_path, drawn):
    X = np.array([[0.0, 0.0], [1.0, 1.0]])

    def units(points):  # unit 2 is never on
        return np.c_[np.maximum(points[:, 0], 0), np.zeros(len(points))]

    plots.neurons(units, X, np.array([0, 1]), tmp_path / "n.png")
    assert drawn["n.png"]["texts"] == ["unit 1", "unit 2 (zero)"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: plots.fit_1d(np.sin, np.zeros((5, 2)), np.zeros(5), p),
         r"fit_1d.png needs one input feature and one regression target \(like dataset=sine or "
         r"sawtooth\); got 2 input features and a regression task with 1 targets"),
        (lambda p: plots.fit_1d(np.sin, np.zeros((5, 1)), np.zeros(5), p, task="binary"),
         r"got 1 input features and a binary task\.$"),
        (lambda p: plots.fit_1d(np.sin, np.zeros((5, 1)), np.zeros((5, 4)), p),
         r"a regression task with 4 targets"),
        (lambda p: plots.neurons(lambda x: x, np.zeros((5, 1)), None, p),
         r"neurons.png draws units over the input plane and needs 2 input features; got 1\."),
        (lambda p: plots.neurons(lambda x: x, np.zeros((5, 4)), None, p), r"got 4\."),
        (lambda p: plots.activations([], p),
         r"activations_init.png needs a hidden layer; a linear model \(model.hidden=\[\]\) has none"),
        (lambda p: plots.why_not("boundry", 2, "binary"),
         r"Unknown figure 'boundry'. Choose one of: activations_init, fit_1d, neurons\."),
    ],
)  # fmt: skip
def test_a_figure_that_does_not_fit_is_refused_with_one_line(tmp_path, call, match):
    with pytest.raises(ConfigError, match=match) as info:
        call(tmp_path / "x.png")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_first_hidden_units_refuses_a_linear_model():
    from mlplab.diagnostics import first_hidden_units
    from mlplab.model import make_mlp

    with pytest.raises(
        ValueError, match=r"a linear model \(model.hidden=\[\]\) has no hidden units"
    ):
        first_hidden_units(make_mlp(2, [], 1))


# ---------------------------------------------------------------- a sweep on one figure


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Six finished runs (3 inits x 2 seeds) and one that never finished."""
    root = tmp_path_factory.mktemp("sweep")
    runs = []
    for init in ("he_normal", "xavier_normal", "normal"):
        for seed in (0, 1):
            run = root / f"{init}-{seed}"
            run_single(make_settings("dataset=xor", "model.hidden=[4,4]", f"model.init={init}",
                                  f"seed={seed}", "trainer.epochs=5"), run)  # fmt: skip
            runs.append(run)
    (root / "unfinished").mkdir()
    return [*runs, root / "unfinished"]


def test_sweep_curves_colour_one_line_per_run_by_a_config_key(tmp_path, sweep, drawn):
    plots.sweep_curves(sweep, "init", tmp_path / "curves.png")
    opens(tmp_path / "curves.png")
    # one legend entry per init, sorted; the unfinished run is left out
    assert drawn["curves.png"]["legend"] == [
        "init=he_normal", "init=normal", "init=xavier_normal"
    ]  # fmt: skip
    plots.sweep_curves(sweep, "model.init,seed", tmp_path / "two.png", metric="val_loss")
    assert len(drawn["two.png"]["legend"]) == 6
    assert "model.init=normal, seed=0" in drawn["two.png"]["legend"]


def test_sweep_curves_from_a_frame_with_a_numeric_range(tmp_path, drawn):
    # 12 learning rates: a colour bar on a log scale instead of a 12-entry legend
    frame = pd.DataFrame(
        [{"run": i, "lr": 10 ** (-4 + i / 3), "epoch": e, "train_loss": 1 / (1 + e * i)}
         for i in range(12) for e in range(5)]
    )  # fmt: skip
    plots.sweep_curves(frame, "lr", tmp_path / "lr.png")
    assert drawn["lr.png"]["legend"] == [] and drawn["lr.png"]["axes"] == 2  # plot + colour bar


def test_layer_profile_draws_layers_csv_at_init(tmp_path, sweep, drawn):
    plots.layer_profile(sweep, "init", tmp_path / "profile.png", column="grad_norm")
    opens(tmp_path / "profile.png")
    assert drawn["profile.png"]["titles"] == ["grad_norm by layer at init, by init"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda runs, p: plots.sweep_curves(runs, "int", p),
         r"Unknown colour_by 'int'. Choose one of: .*\binit\b.*\bmodel.init\b"),
        (lambda runs, p: plots.sweep_curves(runs, "init", p, metric="loss"),
         r"Unknown metric 'loss'. Choose one of: train_acc, train_loss, val_acc, val_loss\."),
        (lambda runs, p: plots.sweep_curves(runs[-1:], "init", p),
         r"No finished runs with history.csv to draw\."),
        (lambda runs, p: plots.layer_profile(runs, "init", p, column="std"),
         r"Unknown column 'std'. Choose one of: act_mean, act_std"),
        (lambda runs, p: plots.layer_profile(runs, "init", p, epoch=3),
         r"No layers.csv rows at epoch 3. Epochs recorded: 0, 5\."),
        (lambda runs, p: plots.sweep_curves(pd.DataFrame({"run": [0], "epoch": [0]}), "lr", p),
         r"Unknown column 'lr'. Choose one of: run, epoch\."),
    ],
)  # fmt: skip
def test_sweep_figures_refuse_unknown_names_with_the_choices(tmp_path, sweep, call, match):
    with pytest.raises(ConfigError, match=match):
        call(sweep, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_figures_false_draws_nothing_but_measures_everything(tmp_path):
    result = run_single(make_settings("dataset=two_moons", "trainer.epochs=3", "trainer.figures=false"),
                     tmp_path)  # fmt: skip
    assert pngs(tmp_path) == set()
    assert (tmp_path / "layers.csv").is_file() and isinstance(result["linear_regions"], int)


@pytest.mark.parametrize("figures, drawn", [("null", False), ("true", True)])
def test_sweep_jobs_take_the_activations_for_a_figure_only_when_they_draw_it(
    tmp_path, monkeypatch, figures, drawn
):
    import dataclasses

    from mlplab import diagnostics, job
    from mlplab.lifecycle import Job
    from mlplab.settings import flat

    taken = []
    hidden_activations = diagnostics.hidden_activations
    monkeypatch.setattr(diagnostics, "hidden_activations",
                        lambda *a: taken.append(1) or hidden_activations(*a))  # fmt: skip
    s = make_settings("model.hidden=[4,4]", "trainer.epochs=2", f"trainer.figures={figures}")
    jobs = [Job(k, (), tmp_path / str(k), flat(s), dataclasses.replace(s, seed=k)) for k in (0, 1)]
    results = job.run_group(jobs)  # a stack of two sweep jobs
    assert [r["status"] for r in results] == ["completed"] * 2
    assert len(taken) == (2 if drawn else 0)
    assert (tmp_path / "0" / "activations_init.png").is_file() == drawn


def test_sweep_png_draws_a_line_per_combination_of_the_knobs_that_vary():
    from mlplab.results import line_keys

    summary = pd.DataFrame({
        "hidden": ["[4]", "[16]", "[4]", "[16]", "[8,8]", "[8,8]"],
        "depth": [1, 1, 1, 1, 2, 2], "width": [4, 16, 4, 16, 8, 8],
        "lr": [0.01, 0.01, 0.1, 0.1, 0.01, 0.1], "activation": ["relu"] * 6,
        "params_mean": [17, 65, 17, 65, 105, 105], "val_acc_mean": [0.8, 0.9, 0.7, 0.95, 0.9, 0.92],
    })  # fmt: skip
    # plot_by depth alone would join lr 0.01 and 0.1 on one line: lr joins the key
    assert line_keys(summary, "depth") == ["depth", "lr"]
    assert line_keys(summary, "lr") == ["lr"]  # along a line: the architecture only
    assert line_keys(summary, "activation,depth") == ["activation", "depth", "lr"]
    lines = summary.groupby([summary[c].astype(str) for c in line_keys(summary, "depth")])
    assert all(block["lr"].nunique() == 1 for _, block in lines)


def test_sweep_png_of_a_search_colours_points_by_its_scattered_knob(tmp_path, drawn):
    # 40 learning rates, as an Optuna search samples them: one dot each on a log colour bar,
    # not a 40-entry legend; 4 rates stay lines with a legend
    summary = pd.DataFrame({
        "hidden": ["[4]", "[16]"] * 20, "depth": [1] * 40, "lr": np.geomspace(1e-4, 1e-1, 40),
        "params_mean": [17, 65] * 20, "val_acc_mean": np.linspace(0.6, 0.99, 40),
    })  # fmt: skip
    plots.sweep(summary, "val_acc", ["depth", "lr"], tmp_path / "search.png")
    search = drawn["search.png"]
    assert search["legend"] == [] and search["axes"] == 2  # the plot and its colour bar
    assert "40 combinations; colour: lr" in search["titles"][0]
    assert opens(tmp_path / "search.png")[1] > 0
    few = summary[summary["lr"].isin(summary["lr"].iloc[:4])]
    plots.sweep(few, "val_acc", ["depth", "lr"], tmp_path / "grid.png")
    assert len(drawn["grid.png"]["legend"]) == 4 and drawn["grid.png"]["axes"] == 1


def test_log_axes_are_labelled_in_plain_numbers_not_mathtext():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mlplab.plots import _log

    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2, 3], [0.01, 0.5, 10])
    _log(ax.yaxis)
    ax.set_ylim(0.01, 10)
    FigureCanvasAgg(fig).draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert {"0.01", "0.1", "1", "10"} <= set(labels)
    assert not any("$" in label for label in labels)
    assert ax.get_yscale() == "log"
    # within one decade the minor ticks are labelled too, plainly (0.4, 0.6, ...)
    ax.set_ylim(0.3, 0.9)
    FigureCanvasAgg(fig).draw()
    minor = [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()]
    assert minor and all(float(m) < 1 and "$" not in m for m in minor)
