"""Your own model from the command line and in run folders: ``--model SPEC [--weights FILE]``.

``SPEC`` is ``path/to/file.py:factory`` or ``package.module:factory``; ``factory()`` (no
arguments) returns anything :func:`unsure.as_posterior` accepts (a network, a list of networks,
a callable ``x -> [S,B,K]``, a fitted laplace-torch object, a torch-uncertainty wrapper, a
:class:`~unsure.Posterior`). ``--weights FILE`` (``.safetensors``, or a ``torch.save`` state_dict
``.pt`` / ``.pth`` read with ``weights_only=True``) is then loaded into what the factory
returned: a module's ``state_dict`` keys, a list's as an
``nn.ModuleList`` (``0.conv1.weight``, ...), the posterior's (what :func:`save_run` writes), or
the network a posterior wraps (``MCDropout(net).net``: the network's own keys).

:func:`save_run` writes a run folder (``config.json`` + ``weights.safetensors``) that records the
factory, so ``--run DIR`` loads it again for any architecture. Loading such a run, like
``--model``, *imports and runs the factory's code*: only load runs you trust, as you would only
run scripts you trust (a run made by ``unsure train`` names a built-in architecture and runs no
user code).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .errors import UnsureError
from .posteriors import Posterior
from .posteriors.protocol import as_posterior


def parse_spec(spec: str) -> tuple[str, str]:
    """``"a/b.py:build"`` / ``"pkg.mod:build"`` -> ``(module part, factory name)``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UnsureError(f"--model needs FILE.py:FACTORY or package.module:FACTORY, got {spec!r}")
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise UnsureError(f"--model {spec!r}: expected FILE.py:FACTORY or package.module:FACTORY "
                          f"(FACTORY a function name)")
    return where, name


def _import_file(path: Path):
    if not path.is_file():
        raise UnsureError(f"--model: no file {path}")
    name = f"unsure_user_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UnsureError(f"--model: cannot import {path} (not a Python file?)")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        del sys.modules[name]
        raise UnsureError(f"--model: importing {path} raised {type(e).__name__}: {e}") from e
    finally:
        sys.path.remove(str(path.resolve().parent))
    return mod


def load_factory(spec: str) -> Callable[[], Any]:
    """The factory named by ``spec`` (imported, not called)."""
    where, name = parse_spec(spec)
    if where.endswith(".py") or os.sep in where or "/" in where:
        mod = _import_file(Path(where))
    else:
        try:
            mod = importlib.import_module(where)
        except ImportError as e:
            raise UnsureError(f"--model: cannot import module {where!r}: {e}") from e
        except Exception as e:
            raise UnsureError(f"--model: importing {where!r} raised {type(e).__name__}: {e}") from e
    fn = getattr(mod, name, None)
    if fn is None:
        public = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("_")
                        and getattr(v, "__module__", None) == mod.__name__)
        raise UnsureError(f"--model: {where} has no {name!r}; it defines: {', '.join(public) or 'no functions'}")
    if not callable(fn):
        raise UnsureError(f"--model: {where}:{name} is a {type(fn).__name__}, not a function")
    return fn


def call_factory(spec: str) -> Any:
    fn = load_factory(spec)
    try:
        return fn()
    except UnsureError:
        raise
    except Exception as e:
        raise UnsureError(f"--model: {spec}() raised {type(e).__name__}: {e}") from e


def _weights_target(obj: Any, post: Posterior) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(m, nn.Module) for m in obj):
        return nn.ModuleList(obj)
    return post


#: keys under which training scripts commonly nest the state_dict in a ``torch.save`` checkpoint
NESTED_STATE = ("state_dict", "model_state_dict", "model")


def read_state(path: str | os.PathLike, what: str = "--weights") -> tuple[dict, str]:
    """A state_dict and its digest from a ``.safetensors`` file (its checksum verified when it has
    one: :mod:`unsure.checksum`) or a ``torch.save`` file (``.pt``, ``.pth``, ...) read with
    ``torch.load(weights_only=True)`` (tensors and plain containers only: no code runs; such a file
    carries no checksum, so its digest is computed). A checkpoint that nests it under
    ``state_dict`` / ``model_state_dict`` / ``model`` is unpacked."""
    from .checksum import load_weights as read_checked
    from .checksum import state_digest

    path = Path(path)
    if not path.is_file():
        raise UnsureError(f"--weights: no file {path}")
    if path.suffix.lower() == ".safetensors":
        return read_checked(path, what)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors, or objects weights_only refuses
        try:  # a safetensors file with another suffix
            return read_checked(path, what)
        except UnsureError:
            pass
        raise UnsureError(f"{what}: cannot read {path} as a state_dict (torch.load with weights_only=True: "
                          f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}); save "
                          f"model.state_dict(), not the model object") from None
    for key in NESTED_STATE:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnsureError(f"{what}: {path} holds a {type(state).__name__}, not a state_dict of tensors "
                          f"(save model.state_dict())")
    return state, state_digest(state)


def load_weights(module: nn.Module, path: str | os.PathLike, fallback: nn.Module | None = None,
                 what: str = "--weights") -> str:
    """Load a state_dict file (:func:`read_state`: safetensors or ``torch.save``) into ``module``
    (strict); ``fallback`` (the posterior) is tried when the keys are those of a run folder.
    Returns the tensors' digest."""
    state, digest = read_state(path, what)
    first = None
    # what the factory returned, the posterior around it, the network a posterior wraps (.net)
    targets = [module, fallback, getattr(module, "net", None)]
    targets = [t for i, t in enumerate(targets) if isinstance(t, nn.Module) and all(t is not u for u in targets[:i])]
    for target in targets:
        missing, unexpected = target.load_state_dict(state, strict=False)
        if not missing and not unexpected:
            return digest
        first = first or (missing, unexpected)
    missing, unexpected = first  # the keys of what the factory returned
    raise UnsureError(f"--weights {path} does not fit the model: missing keys {missing[:3]}, "
                      f"unexpected keys {unexpected[:3]}")


def model_posterior(spec: str, weights: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu") -> Posterior:
    """``--model SPEC [--weights FILE]`` -> a posterior on ``device`` (eval mode)."""
    obj = call_factory(spec)
    try:
        post = as_posterior(obj)
    except UnsureError as e:
        raise UnsureError(f"--model: {spec}() returned something unusable: {e}") from None
    digest = None
    if weights is not None:
        digest = load_weights(_weights_target(obj, post), weights, fallback=post)
    post.to(device).eval()
    post.run_config = {"factory": spec, "weights": None if weights is None else str(weights)}
    post.weights_sha256 = digest  # None: the factory's own initial weights
    return post


def stored_spec(factory: str) -> str:
    """A file spec is stored with its absolute path, so the run loads from any directory."""
    where, name = parse_spec(factory)
    if where.endswith(".py") or "/" in where or os.sep in where:
        p = Path(where)
        if not p.is_file():
            raise UnsureError(f"no file {p} for factory {factory!r}")
        return f"{p.resolve()}:{name}"
    return factory


def portable_source(args: argparse.Namespace) -> dict:
    """``--run`` / ``--model`` / ``--weights`` with absolute paths (a file spec via
    :func:`stored_spec`), for workers that may run in another folder or on another node."""
    run, model, weights = (getattr(args, k, None) for k in ("run", "model", "weights"))
    return {"run": str(Path(run).resolve()) if run else None, "model": model and stored_spec(model),
            "weights": str(Path(weights).resolve()) if weights else None}


def save_run(posterior, run_dir: str | os.PathLike, *, factory: str, data: str | None = None,
             config: dict | None = None, overwrite: bool = False) -> Path:
    """Save a posterior of any architecture as a run folder that ``--run DIR`` loads.

    Parameters
    ----------
    posterior : anything :func:`unsure.as_posterior` accepts; its ``state_dict`` is saved
    run_dir : the folder to create
    factory : ``"package.module:function"`` or ``"path/to/file.py:function"``; loading calls it
        (no arguments) to rebuild the structure, then loads the saved weights. A file path is
        stored absolute. Loading runs this code: share runs only with people who trust it.
    data : the data spec the commands default to (``"digits"``, ``"cifar10:DIR"``, ...)
    config : more JSON-able entries for ``config.json``
    """
    from .run import save_run as write_run

    post = as_posterior(posterior)
    spec = stored_spec(factory)
    rebuilt = as_posterior(call_factory(spec))  # the factory must rebuild the same structure
    if set(rebuilt.state_dict()) != set(post.state_dict()):
        raise UnsureError(f"save_run: {factory}() builds a model whose weights do not match the "
                          f"posterior's ({len(rebuilt.state_dict())} vs {len(post.state_dict())} tensors)")
    cfg = dict(config or {})
    cfg.update({"factory": spec, "data": data})
    return write_run(run_dir, post, cfg, overwrite=overwrite)


def load_factory_run(run_dir: Path, cfg: dict, device) -> Posterior:
    """Rebuild a run saved by :func:`save_run` (imports and calls its factory)."""
    from .run import WEIGHTS, check_weights_identity

    obj = call_factory(cfg["factory"])
    post = as_posterior(obj)
    digest = load_weights(post, Path(run_dir) / WEIGHTS, what="")
    check_weights_identity(cfg, digest, Path(run_dir) / WEIGHTS)
    post.to(device).eval()
    post.run_config = cfg
    post.weights_sha256 = digest
    return post


def posterior_from_args(args: argparse.Namespace, device):
    """The posterior of ``--run`` or ``--model``; ``post.run_config`` holds the run's config
    (for ``--model``: the spec and weights)."""
    from .run import load_run

    if getattr(args, "weights", None) and not getattr(args, "model", None):
        raise UnsureError("--weights goes with --model (a run folder has its own weights)")
    if getattr(args, "model", None):
        return model_posterior(args.model, args.weights, device=device)
    return load_run(args.run, device=device)


def run_posterior(args: argparse.Namespace) -> tuple[Posterior, str]:
    """Load ``--run`` or ``--model`` on ``--device``; returns the posterior and the data spec
    (``--data`` or the run's)."""
    from .identity import check_run_data
    from .run import resolve_device

    if getattr(args, "model", None) and not args.data:
        raise UnsureError("--model needs --data SPEC (digits, fashion-mnist, cifar10:DIR, ...)")
    post = posterior_from_args(args, resolve_device(args.device))
    data = args.data or check_run_data(post.run_config, getattr(args, "run", None))
    if not data:
        raise UnsureError("no --data given and the run does not name its data")
    return post, data



def add_source_arguments(p: argparse.ArgumentParser, run_help: str = "run directory made by 'unsure train' "
                         "or unsure.save_run", required: bool = True) -> None:
    """The mutually exclusive ``--run`` / ``--model`` pair (required unless ``required=False``,
    for a command that can also work without a posterior) and ``--weights``."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--run", default=None, help=run_help)
    g.add_argument("--model", default=None, metavar="SPEC",
                   help="your model: path/to/file.py:factory or package.module:factory; factory() returns "
                        "a network, a list of networks, a callable x -> [S,B,K] logits, a fitted "
                        "laplace-torch Laplace, ... (runs that code); needs --data")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="with --model: load this state_dict into what the factory returns (.safetensors, "
                        "or .pt/.pth saved with torch.save(model.state_dict()))")


def source_label(args: argparse.Namespace) -> str:
    """``--run DIR`` or ``--model SPEC`` as given, for reports and 'reproduce' lines."""
    if getattr(args, "model", None):
        return f"--model {args.model}" + (f" --weights {args.weights}" if args.weights else "")
    return f"--run {args.run}"

def _register_loader() -> None:
    from . import run

    run.FACTORY_LOADER = load_factory_run


_register_loader()
