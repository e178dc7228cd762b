"""One name per setting: ``default`` and ``ua-backprop-class`` are method names in the API and the
CLI, a bare ``ua-backprop`` still runs the class variant with a deprecation line, method specs
work the same in Python and on the command line, every ``--methods`` default comes from one
table, and ``-h`` never breaks a spec."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import unsure
from unsure.attribution.base import DEFAULT_OPTIONS, DEFAULT_SPEC
from unsure.attribution.presets import DeprecatedName
from unsure.flags import COMMAND_METHODS
from unsure.attribution.spec import method_options, parse_methods
from unsure.cli.main import build_parser, main


@pytest.fixture
def ens():
    torch.manual_seed(0)
    return [nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 64, 5))
            for _ in range(3)]


@pytest.fixture
def x():
    return torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedName)  # none of these may warn
        return fn(*a, **k)


def test_default_is_a_method_name_equal_to_the_spelled_out_spec(ens, x):
    none = _quiet(unsure.attribute, ens, x)
    named = _quiet(unsure.attribute, ens, x, method="default")
    spelled = _quiet(unsure.attribute, ens, x, method=DEFAULT_SPEC)
    assert none.meta["method"] == named.meta["method"] == "default"
    assert torch.equal(none.maps, named.maps) and torch.equal(named.maps, spelled.maps)
    assert {k: named.meta[k] for k in ("grouping", "combine")} == {k: DEFAULT_OPTIONS[k] for k in ("grouping", "combine")}
    # an option of ua-backprop works on the preset and overrides its default
    other = _quiet(unsure.attribute, ens, x, method="default:combine=mean-of-relu")
    assert other.meta["combine"] == "mean-of-relu" and not torch.equal(other.maps, named.maps)
    assert [d for o, _, d in method_options("default") if o == "grouping"] == ["joint"]


def test_class_variant_has_its_own_name_and_the_bare_name_is_deprecated(ens, x):
    cls = _quiet(unsure.attribute, ens, x, method="ua-backprop-class")
    assert cls.meta["method"] == "ua-backprop-class" and cls.meta["grouping"] == "class"
    with pytest.warns(DeprecatedName, match="now named 'ua-backprop-class'"):
        bare = unsure.attribute(ens, x, method="ua-backprop")
    assert torch.equal(bare.maps, cls.maps)
    assert not torch.equal(cls.maps, _quiet(unsure.attribute, ens, x).maps)
    _quiet(unsure.attribute, ens, x, method="ua-backprop", variant="paper")  # with options: no line


@pytest.mark.parametrize("spec, kwargs", [("grad:reduce=mean", {"reduce": "mean"}),
                                          ("ig:steps=3", {"steps": 3}),
                                          ("smoothgrad:inner=inputgrad:samples=2", {"inner": "inputgrad", "samples": 2})])
def test_a_spec_works_in_python_as_on_the_command_line(ens, x, spec, kwargs):
    name = spec.split(":")[0]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = unsure.attribute(ens, x, method=spec, generator=g())
    b = unsure.attribute(ens, x, method=name, generator=g(), **kwargs)
    assert torch.equal(a.maps, b.maps) and a.meta["method"] == name
    assert parse_methods(spec)[0].options == kwargs


def test_a_spec_and_a_keyword_for_one_option_is_an_error(ens, x):
    with pytest.raises(unsure.UnsureError, match="given in the spec and as keywords"):
        unsure.attribute(ens, x, method="grad:reduce=mean", reduce="max")
    with pytest.raises(unsure.UnsureError, match="has no option"):
        parse_methods("default:nope=1")


def test_every_methods_default_comes_from_the_table():
    p = build_parser()
    cmds = p._subparsers._group_actions[0].choices
    benches = cmds["bench"]._subparsers._group_actions[0].choices
    seen = {}
    for name, sp in [*cmds.items(), *(("bench " + k, v) for k, v in benches.items())]:
        for a in sp._actions:
            if "--methods" in a.option_strings:
                seen[name] = a.default
    assert set(seen.values()) <= set(COMMAND_METHODS.values()), seen
    assert seen["explain"] == seen["explain-dataset"] == "default"
    assert len(seen) >= 12  # explain, explain-dataset, demo and every method-using bench
    for text in COMMAND_METHODS.values():
        for spec in parse_methods(text):  # every default names registered methods, no bare ua-backprop
            assert spec.name != "ua-backprop" or spec.options


def test_help_never_breaks_a_spec(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "50")
    with pytest.raises(SystemExit):
        main(["bench", "speed", "-h"])
    out = capsys.readouterr().out
    assert f"{COMMAND_METHODS['speed']})" in [w.strip() for w in out.splitlines()]  # whole, on one line
    assert not any(line.rstrip().endswith("-") for line in out.splitlines())


def test_cli_prints_the_deprecation_as_one_line(capsys):
    with pytest.warns(DeprecatedName):
        parse_methods("ua-backprop,grad")
    p = build_parser()
    args = p.parse_args(["methods"])
    assert args.command == "methods"
    from unsure.cli.main import one_line_warnings

    with one_line_warnings():
        parse_methods("ua-backprop")
        parse_methods("ua-backprop")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("unsure: warning: method 'ua-backprop' alone is deprecated")
