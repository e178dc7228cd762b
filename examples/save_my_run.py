"""Save the trained ensemble as a run folder that ``unsure ... --run`` loads (docs/own-model.md)."""
import sys

from safetensors.torch import load_file
from torch import nn

import unsure

sys.path.insert(0, "examples")
import my_models  # noqa: E402

nets = my_models.build()
nn.ModuleList(nets).load_state_dict(load_file("my-weights/ensemble.safetensors"))
print(unsure.save_run(nets, "own-model-out/my-run", factory="examples/my_models.py:build", data="digits",
                      overwrite=True))
