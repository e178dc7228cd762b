"""Uncertainty mitigation (UA-Backprop paper Sec. 4): retrain a classifier with attribution maps
as attention, ``F' = (1 + lambda * A) * F`` on its last conv features (or on the input).

>>> from unsure.mitigation import attention_weights, retrain, evaluate, fit_temperature, RetrainConfig
>>> A = attention_weights(maps, x, "map")            # [N,H,W] in [0,1]
>>> net, log = retrain(x, y, A, RetrainConfig(lam=0.2), seed=0)
>>> evaluate(net, x_test, y_test, A_test)            # {"accuracy", "nll", "ece"}
>>> T = fit_temperature(net, x_val, y_val, A_val)    # NLL left after removing over-confidence
>>> evaluate(net, x_test, y_test, A_test, temperature=T)

Always train a control beside it: a constant map (``torch.zeros_like(maps)``; with ``"inverse"``
every feature is scaled by ``1 + lambda``) or a random one. In the paper's setting (epistemic
maps on the last conv features) a constant map gains as much as UA-Backprop's on Fashion-MNIST
and digits (docs/results/mitigation.md): the rescaling, not the map, does the work there.
``unsure bench mitigation --methods ua-backprop,random,constant`` pairs them for you; the
experiment behind it is :func:`run_experiment` (``experiment.py``), its summaries and merging
``summary.py``, its plots ``plots.py``.
"""
from .attention import (AttendedNet, Attention, Space, attention_weights, latent_attention,
                        normalise_map, pack, rescale01, scale)
from .maps import MapCache, MapKey, cached_maps, generate_maps, run_id
from .retrain import RetrainConfig, attended_logits, evaluate, fit_temperature, retrain
from .experiment import CONTROLS, Experiment, ExperimentRun, method_key, parse_mitigation_methods, run_experiment
from .summary import merge_results, stalled_baselines, summarise

__all__ = ["AttendedNet", "Attention", "Space", "attention_weights", "latent_attention", "normalise_map",
           "pack", "rescale01", "scale", "MapCache", "MapKey", "cached_maps", "generate_maps", "run_id",
           "RetrainConfig", "attended_logits", "evaluate", "fit_temperature", "retrain",
           "CONTROLS", "Experiment", "ExperimentRun", "method_key", "parse_mitigation_methods", "run_experiment",
           "merge_results", "stalled_baselines", "summarise"]
