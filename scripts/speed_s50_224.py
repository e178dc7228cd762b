"""The default at the largest grid corner on one image: 50 random ResNet-18 members, 3x224x224,
K = 1000, batch "auto" (docs/results/speed-scale.md; the bench grid leaves it out because its floor
holds all 50 members' graphs at once, about 11 GiB here). Prints CPU seconds, peak resident memory
and the completeness error.

    OMP_NUM_THREADS=1 python scripts/speed_s50_224.py
"""
import resource, time, torch, unsure
from unsure.bench.speed_grid import parse_point, random_posterior
p = parse_point("resnet18:3x224:k1000:s50:b1:n1")
x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
post = random_posterior(p, x, 10.0, 0)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
c = time.process_time()
res = unsure.attribute(post, x, "default", "epistemic", batch_size="auto")
t = time.process_time() - c
err = (res.maps.sum() - res.meta["uncertainty"]).abs().item()
print(f"S=50 3x224x224 K=1000 default, batch auto: {t:.1f} CPU s per image, max RSS {rss0:.2f} GiB before, "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB after, completeness error {err:.1e}")
