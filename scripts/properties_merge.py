"""Join ``properties.json`` files of ``unsure bench properties`` that scored the same images with the
same settings and the same posterior into one result (one table, one heat map), recomputing the
agreement and the ranking with the bench's own functions (``unsure.bench.properties.summarise``):

    python scripts/properties_merge.py A/properties.json B/properties.json ... --out DIR [--force]

Refused, in one line: files of another bench, other images, settings (data, split, target, seed,
re-run images, score options, posterior configuration, ground-truth causes), scored values or
posterior identity (weights and data digests), and a method in two files (``--batch-size``, the
images per attribution chunk, and the run's path may differ). A file written before
results carried an ``identity`` gets the identity of its ``--run`` as it is now. Each method's
values are per-method seeded in the bench, so a merge equals one run of all the methods
(``tests/bench/test_properties_merge.py``). Writes ``DIR/properties.json``, ``.md``, ``.png``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

SAME = ("bench", "data", "split", "target", "seed", "method_n", "images", "score_options", "posterior",
        "groundtruth")


class MergeError(Exception):
    pass


def posterior_identity(js: dict, path: str) -> dict:
    """``{"weights", "data"}`` of a result: its ``identity``, else that of its ``--run`` now."""
    ident = js.get("identity")
    if not ident:
        from unsure.bench.base import source_identity

        ident = source_identity(js.get("settings") or {})
        if not ident:
            raise MergeError(f"{path} has no identity and its run "
                             f"{(js.get('settings') or {}).get('run')!r} cannot be read")
    return {"weights": ident.get("weights"), "data": ident.get("data")}


def _same_setting(a, b) -> bool:
    """Equal settings; in dicts (``score_options``), a key one file lacks equals ``None`` in the
    other: an option added after the older file was written, whose ``None`` is the old behaviour."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(a.get(k) == b.get(k) for k in set(a) | set(b))
    return a == b


def merge(docs: list[tuple[str, dict]]) -> dict:
    """The merged result (``results``, ``agreement``, ``metrics``, ``ranking``, ``skipped``,
    ``config``, ``identity``, ``markdown``) of ``[(path, properties.json content)]``."""
    from unsure.bench.properties import summarise

    if len(docs) < 2:
        raise MergeError("give at least two properties.json files")
    p0, j0 = docs[0]
    for path, js in docs:
        cfg = js.get("config") or {}
        if cfg.get("bench") != "properties" or "results" not in js:
            raise MergeError(f"{path} is not a result of 'unsure bench properties'")
    id0 = posterior_identity(j0, p0)
    results, skipped, owner = {}, {}, {}
    for path, js in docs:
        cfg, c0 = js["config"], j0["config"]
        for k in SAME:
            if not _same_setting(cfg.get(k), c0.get(k)):
                raise MergeError(f"{path} differs from {p0} in config.{k}: {str(cfg.get(k))[:80]} vs "
                                 f"{str(c0.get(k))[:80]}")
        if js["metrics"] != j0["metrics"]:
            raise MergeError(f"{path} scored other values than {p0}: {js['metrics']} vs {j0['metrics']}")
        ident = posterior_identity(js, path)
        if ident != id0:
            raise MergeError(f"{path} explains another posterior than {p0} (identity {ident} vs {id0})")
        for m, r in js["results"].items():
            if m in owner:
                raise MergeError(f"method {m!r} is in both {owner[m]} and {path}")
            owner[m] = path
            results[m] = r
        skipped.update(js.get("skipped", {}))
    skipped = {m: e for m, e in skipped.items() if m not in results}
    c = j0["config"]
    which = (f"{len(c['images'])} images with a valid {c['target']} cause (ground truth)" if c.get("groundtruth")
             else f"{len(c['images'])} most uncertain images")
    intro = (f"Properties of {c['target']} maps on {c['data']} ({c['split']}), {which} (re-run metrics on the "
             f"first {c['method_n']}); means over images. Merged from {len(docs)} runs of the same images.")
    names, agree, rank, md = summarise(results, skipped, intro)
    config = dict(j0["config"])
    config["methods"] = list(results)
    config["merged_from"] = [{"path": path, "command": js.get("command"), "methods": list(js["results"])}
                             for path, js in docs]
    return {"results": results, "agreement": agree, "metrics": names, "ranking": rank, "skipped": skipped,
            "config": config, "identity": id0, "markdown": md}


def main(argv: list[str] | None = None) -> int:
    from unsure.bench.base import environment
    from unsure.bench.properties import heat_maps
    from unsure.outputs import stamped

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="properties.json files")
    ap.add_argument("--out", required=True, help="folder for the merged properties.json, .md, .png")
    ap.add_argument("--force", action="store_true", help="replace a properties.json already in --out")
    a = ap.parse_args(argv)
    out = Path(a.out)
    try:
        docs = []
        for f in a.files:
            try:
                docs.append((f, json.loads(Path(f).read_text())))
            except (OSError, ValueError) as e:
                raise MergeError(f"cannot read {f}: {e}") from None
        if (out / "properties.json").exists() and not a.force:
            raise MergeError(f"{out}/properties.json exists; pass --force to replace it")
        m = merge(docs)
    except MergeError as e:
        print(f"properties_merge: error: {e}", file=sys.stderr)
        return 2
    md = m.pop("markdown")
    argv = sys.argv[1:] if argv is None else argv
    payload = stamped({**m, "environment": environment()},
                      command="python scripts/properties_merge.py " + " ".join(shlex.quote(x) for x in argv))
    out.mkdir(parents=True, exist_ok=True)
    (out / "properties.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "properties.md").write_text(md)
    heat_maps(out / "properties.png", m["metrics"], m["agreement"])
    print(md)
    print(f"wrote {out}/properties.json, properties.md, properties.png ({len(m['results'])} methods)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
