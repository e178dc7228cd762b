"""Five paper CNNs with seeded random weights, for cost measurements on 28x28 images without a
trained run (``unsure bench ... --model scripts/random_ensemble.py:paper_cnns --data fashion-mnist``):
random members disagree, so the epistemic uncertainty the benches need is there. Used by
docs/results/blurring-panel.md (the panel's cost); never for faithfulness numbers."""
import torch

from unsure.models import PaperCNN


def paper_cnns(members: int = 5):
    nets = []
    for seed in range(members):
        torch.manual_seed(seed)
        nets.append(PaperCNN())
    return nets


def paper_cnns_rgb32(members: int = 5):
    """Five paper CNNs for 3x32x32 colour images (``colour:digits``), seeded random weights."""
    nets = []
    for seed in range(members):
        torch.manual_seed(seed)
        nets.append(PaperCNN(in_channels=3, image_size=32))
    return nets
