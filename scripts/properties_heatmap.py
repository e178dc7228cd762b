"""Redraw ``properties.png`` from a ``properties.json`` of ``unsure bench properties`` (same drawing
as the bench, ``unsure.bench.properties.heat_maps``):

    python scripts/properties_heatmap.py docs/results/properties-digits/properties.json
"""
import json
import sys
from pathlib import Path

from unsure.bench.properties import heat_maps

for path in sys.argv[1:]:
    js = json.loads(Path(path).read_text())
    heat_maps(Path(path).with_name("properties.png"), js["metrics"], js["agreement"])
