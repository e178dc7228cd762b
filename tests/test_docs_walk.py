"""The README and the getting-started page as a new user reads them: every measured number in
README.md comes from the page or results file its paragraph links (a stale number fails here),
and the Python snippets run and do what their comments say."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

import unsure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: a measured number: a decimal, a percentage, a factor (6.4x), a duration (51 s, 4 min) or a count of tests
MEASURED = re.compile(r"(?<![\w.\-/])(\d[\d,]*(?:\.\d+)?)(?:(%|x)(?![\w])|(?= ?(?:s|min|tests)\b)|(?<=\.\d)|(?<=\.\d\d)|(?<=\.\d{3})|(?<=\.\d{4}))")


def _prose(text: str) -> str:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # commands and code, not claims
    return re.sub(r"`[^`\n]*`", "", text)


def _sources(paragraph: str) -> str:
    """The text of every page the paragraph links, plus the .md / .json files beside it and in
    the folder of the same name (a results page and its data)."""
    out = []
    for link in re.findall(r"\]\(([^)#\s]+)", paragraph):
        f = ROOT / link
        if f.is_file() and f.suffix == ".md":
            out.append(f.read_text())
            for g in [*f.parent.glob("*.json"), *(f.parent / f.stem).glob("*.*")]:
                if g.suffix in (".md", ".json"):
                    out.append(g.read_text())
    return "\n".join(out)


def measured_numbers(paragraph: str) -> list[str]:
    return [m.group(1) for m in MEASURED.finditer(_prose(paragraph))]


def test_the_number_pattern():
    assert measured_numbers("MURR 0.578 / 0.726, 6.4x faster, 612 tests in 51 s, 2% of 5 members, "
                            "ResNet-18, 4 min 35 s, `make 1.5`") == ["0.578", "0.726", "6.4", "612", "51", "2", "4", "35"]


def test_every_readme_number_comes_from_a_linked_results_page():
    missing = []
    for para in re.split(r"\n(?=- )|\n\n", _prose(README)):
        nums = measured_numbers(para)
        if not nums:
            continue
        source = _sources(para)
        missing += [f"{n} in: {para.strip()[:80]}..." for n in nums if n not in source]
    assert missing == [], "README numbers not found in the pages their paragraph links:\n" + "\n".join(missing)


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _nets(side: int, n: int = 3):
    torch.manual_seed(0)
    return [nn.Sequential(nn.Flatten(), nn.Linear(side * side, 10)) for _ in range(n)]


def test_readme_api_in_ten_lines_runs_as_written():
    (block,) = [b for b in _python_blocks(README) if "unsure.DeepEnsemble(members)" in b]
    ns = {"my_net_1": _nets(28)[0], "my_net_2": _nets(28)[1], "my_net_3": _nets(28)[2]}
    exec(compile(block, "README.md", "exec"), ns)
    res, u, x = ns["res"], ns["u"], ns["x"]
    assert res.maps.shape == (8, 28, 28)  # "[B, H, W]"
    torch.testing.assert_close(res.maps.sum((1, 2)), u["epistemic"])  # "res.maps.sum((1, 2)) == u["epistemic"]"
    assert res.meta["method"] == "default" and ns["ua"].meta["method"] == "ua-backprop-class"
    assert ns["grad"].meta["reduce"] == "mean" and ns["f"](x).shape == (8,)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_readme_own_model_lines_run_as_written():
    (block,) = [b for b in _python_blocks(README) if "unsure.as_posterior(my_nets)" in b]
    ns = {"my_nets": _nets(8), "x": torch.rand(4, 1, 8, 8), "unsure": unsure}
    exec(compile(block, "README.md", "exec"), ns)
    torch.testing.assert_close(ns["res"].maps.sum((1, 2)), unsure.uncertainty(ns["post"], ns["x"])["epistemic"])


def test_getting_started_fits_one_screen_and_its_snippet_runs():
    text = (ROOT / "docs" / "getting-started.md").read_text()
    assert len(text.splitlines()) <= 45
    (block,) = _python_blocks(text)
    ns: dict = {}
    exec(compile(block, "getting-started.md", "exec"), ns)
    assert "torch.Size([4, 8, 8])" in block and ns["res"].maps.shape == torch.Size([4, 8, 8])
    torch.testing.assert_close(ns["res"].maps.sum((1, 2)), unsure.uncertainty(ns["nets"], ns["x"])["epistemic"])
    assert len(ns["fig"].axes) == 4 * 3 + 4
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md", "docs/own-model.md", "docs/report.md"])
def test_docs_use_todays_names(page):
    """No command in the docs a new user copies uses a spelling that now warns or fails."""
    text = (ROOT / page).read_text()
    cmds = re.findall(r"unsure [a-z-]+[^\n`]*", text)
    for c in cmds:
        assert not re.search(r"--methods (?:[^ ]*,)?ua-backprop(?:,| |$)", c), c  # bare: deprecated
        assert "--limit" not in c or c.startswith(("unsure train", "unsure demo")), c
        assert "--targets" not in c, c
