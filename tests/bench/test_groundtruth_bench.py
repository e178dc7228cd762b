"""``unsure bench groundtruth`` end to end on digits: generated data and a tiny posterior cached
in --out (reused on a second call), JSON layout, scores equal to the metric functions on the
saved cause set, maps kept by the blurring worker equal to a direct attribution, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unsure.attribution import make_method
from unsure.bench.blurring_engine import run_panel
from unsure.attribution.spec import parse_methods
from unsure.cli.main import main
from unsure.groundtruth.store import load_causes
from unsure.run import load_run

ARGS = ["--data", "digits", "--members", "2", "--epochs", "1", "--milestones", "", "--n", "12",
        "--methods", "grad,random,cov-gi", "--panel-n", "3", "--sigmas", "0.5,2", "--split", "val",
        "--min-rise", "-1", "--near", "1000", "--no-progress"]


def test_bench_end_to_end(tmp_path, capsys):
    out = tmp_path / "gt"
    assert main(["bench", "groundtruth", *ARGS, "--out", str(out)]) == 0
    got = json.loads((out / "groundtruth.json").read_text())
    run_dirs = list((out / "runs").iterdir())
    assert [p.name for p in run_dirs] == ["ensemble-m2-e1-s0-soft"] and (out / "data" / "train.npz").is_file()
    trained = json.loads((run_dirs[0] / "config.json").read_text())
    assert trained["settings"]["soft_labels"] is True  # the default: the blends' label distributions
    assert set(got["validity"]) >= {"aleatoric", "epistemic", "both", "all"}
    assert all(0 <= v["share"] <= 1 and v["images"] == 12 for k, v in got["validity"].items()
               if k in ("aleatoric", "epistemic", "both"))
    cs, meta = load_causes(out / "causes-val.npz")
    assert meta["base"] == "digits" and len(cs) == 12
    for t, res in got["results"].items():  # cov-gi explains epistemic uncertainty only: skipped elsewhere
        assert set(res) == ({"grad", "random", "cov-gi"} if t == "epistemic" else {"grad", "random"})
        for m in res.values():
            assert {"rank", "mass", "auroc", "pointing"} <= set(m) and 0 <= m["rank"] <= 1
        assert sum(got["config"]["images"][t]["causes"].values()) == res["grad"]["images"]
    assert set(got["disentanglement"]) <= {"grad", "random"}  # cov-gi has no aleatoric map
    assert "groundtruth.png" in [p.name for p in out.iterdir()]
    # a second call reuses the generated data and the trained run (no retraining: same file times)
    stamp = (run_dirs[0] / "config.json").stat().st_mtime_ns
    assert main(["bench", "groundtruth", *ARGS, "--out", str(out)]) == 2  # the result is not replaced
    assert main(["bench", "groundtruth", *ARGS, "--out", str(out), "--force"]) == 0
    assert (run_dirs[0] / "config.json").stat().st_mtime_ns == stamp
    again = json.loads((out / "groundtruth.json").read_text())
    assert again["results"] == got["results"]  # seeded
    assert got["config"]["notes"] == [] or all("valid" in n for n in got["config"]["notes"])
    # a rule no cause can pass: every section is missing, and the bench says so (warning and report)
    capsys.readouterr()
    assert main(["bench", "groundtruth", *ARGS, "--min-rise", "100", "--out", str(out), "--force"]) == 0
    err = capsys.readouterr().err
    none = json.loads((out / "groundtruth.json").read_text())
    assert none["results"] == {} and none["disentanglement"] == {}
    assert "unsure: warning: none of the 36 cause images" in err and "nothing is scored" in err
    assert "maps not scored" not in err and "disentanglement not scored" in err  # one line says it for all
    assert "**Note:** none of the 36 cause images" in (out / "groundtruth.md").read_text()


def test_validity_notes():
    from unsure.bench.groundtruth import validity_notes
    from unsure.groundtruth.tasks import Task

    def task(m):
        return Task("t", torch.zeros(m, 1, 4, 4), torch.zeros(m, 4, 4, dtype=torch.bool), ["aleatoric"] * m,
                    torch.arange(m))
    good = {"all": {"share": 0.8, "valid": 24, "images": 30}}
    assert validity_notes(good, {"total": task(3), "epistemic": task(2)}, 10) == []
    low = validity_notes({"all": {"share": 0.3, "valid": 9, "images": 30}}, {"total": task(3), "epistemic": task(0)}, 10)
    assert len(low) == 2 and low[0].startswith("only 9 of 30 cause images (30%")
    assert low[1] == "epistemic maps not scored: no epistemic cause of the 10 base images is valid for this posterior"


def test_kept_maps_equal_a_direct_attribution(run):
    post = load_run(run)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    r = run_panel(post, x, parse_methods("grad,inputgrad"), [], "blur", seed=3, progress=False,
                  target="aleatoric", keep_maps=True)
    draw = post.draw(torch.Generator().manual_seed(3))
    for name in ("grad", "inputgrad"):
        direct = make_method(name).attribute(post, x, "aleatoric", draw=draw, generator=torch.Generator().manual_seed(3))
        assert np.allclose(r["maps"][name].numpy(), direct.maps.detach().numpy(), atol=1e-6)
    assert r["by_replacement"] == {}


def test_partner_follows_the_run(tmp_path, capsys):
    out = tmp_path / "gt"
    args = [a if a != "12" else "6" for a in ARGS]
    assert main(["bench", "groundtruth", *args, "--labels", "drawn", "--partner", "any", "--out", str(out)]) == 0
    run = out / "runs" / "ensemble-m2-e1-s0"  # drawn labels: no suffix, as runs made before the option
    assert not json.loads((run / "config.json").read_text())["settings"].get("soft_labels")
    got = json.loads((out / "groundtruth.json").read_text())
    assert got["config"]["design"]["partner"] == "any"
    # a run trained on blends with any partner refuses test causes with the fixed pairs
    assert main(["bench", "groundtruth", *args, "--run", str(run), "--partner", "paired",
                 "--out", str(tmp_path / "other")]) == 2
    assert "trained on blends with partner 'any'" in capsys.readouterr().err
    # and without --partner takes the one it was trained with
    assert main(["bench", "groundtruth", *args, "--run", str(run), "--out", str(tmp_path / "same")]) == 0
    assert "not trained on data this bench generated" not in capsys.readouterr().err
    again = json.loads((tmp_path / "same" / "groundtruth.json").read_text())
    assert again["config"]["design"]["partner"] == "any"
    # generated data of the other partner mode is not reused from the same --out
    assert main(["bench", "groundtruth", *args, "--partner", "paired", "--out", str(out), "--force"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_errors(tmp_path, capsys):
    assert main(["bench", "groundtruth", "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["bench", "groundtruth", *ARGS, "--targets", "vacuity", "--out", str(tmp_path / "b")]) == 2
    assert "unknown target" in capsys.readouterr().err
    assert main(["bench", "groundtruth", *ARGS, "--kinds", "plaid", "--out", str(tmp_path / "c")]) == 2
    assert "plaid" in capsys.readouterr().err


def test_a_run_not_trained_on_generated_data_is_warned_about(tmp_path, capsys, run):
    args = [a if a != "12" else "4" for a in ARGS]
    assert main(["bench", "groundtruth", *args, "--run", str(run), "--out", str(tmp_path / "w")]) == 0
    err = capsys.readouterr().err
    assert "unsure: warning: the model was not trained on data this bench generated" in err
    assert "UserWarning" not in err  # one line, not Python's two


def test_non_square_images_are_refused_before_training(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rect.npz", x=rng.random((60, 8, 12)).astype(np.float32), y=np.arange(60) % 3)
    args = [a for a in ARGS]
    args[args.index("digits")] = f"npz:{tmp_path / 'rect.npz'}"
    assert main(["bench", "groundtruth", *args, "--out", str(tmp_path / "r")]) == 2
    assert "needs square images, got 8x12" in capsys.readouterr().err
    assert not (tmp_path / "r" / "runs").exists()  # nothing trained


def test_report_states_the_models_own_split(tmp_path):
    from unsure.bench.groundtruth_report import markdown, split_figure

    config = {"split": "test", "n": 3, "other": "digits", "min_rise": 0.005, "compare": "ratio", "near": 0.5}
    validity = {"all": {"share": 1.0, "valid": 9, "images": 9}}
    dis = {"grad": {"aleatoric_on_epistemic": 0.2, "epistemic_on_aleatoric": 0.3, "mean": 0.25, "mean_mean": 0.26,
                    "aleatoric_on_epistemic_of_causes": 0.4, "epistemic_on_aleatoric_of_causes": 0.5,
                    "split_error": 0.125, "images": 3}}
    md = markdown("digits", {}, {}, dis, validity, {}, {}, {}, {}, [0.02], config,
                  {"aleatoric_on_epistemic": 0.45, "epistemic_on_aleatoric": 0.125})
    row = next(line for line in md.splitlines() if line.startswith("| grad"))
    assert row == "| grad | 0.200 | 0.300 | 0.250 | 0.260 | 0.400 | 0.500 | 0.125 | 3 |"
    assert "the epistemic patch raises 0.450 of the aleatoric rise, the blend 0.125 of the epistemic rise" in md
    assert "The model itself" not in markdown("digits", {}, {}, dis, validity, {}, {}, {}, {}, [0.02], config, {})
    split_figure(tmp_path / "split.png", dis, {"aleatoric_on_epistemic": 0.45, "epistemic_on_aleatoric": 0.125})
    assert (tmp_path / "split.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
