#!/bin/bash
# The Fashion-MNIST runs of docs/results/properties.md (issue 25): every panel method on the same 100
# images and settings as the 8-method core run, in chunks (one process at a time, each a complete
# properties.json), merged into one result; then the Shapley family on fewer images (their own table).
# clue / delta-clue use a Fashion-MNIST VAE trained here (10 epochs, 458 s on the shared CPU; chunk 7), and
# chunk 8 adds the registered methods the panel list lacks (uam, cov-lrp's diagonal form). As run for the docs the Shapley family came before RISE, and 2-ua-backprop
# ran with --batch-size auto (the default today: all 100 images in one chunk).
# Run from the repository root with runs/fmnist-ens5 there (docs/results/properties.md, "Commands").
set -e
COMMON="--run runs/fmnist-ens5 --n 100 --method-n 5 --repeats 2 --positions 4 --sigmas 0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0 --seed 0 --batch-size 50"
declare -A CHUNK=(
  [1-core]="$(cat scripts/panel_methods_fmnist_core.txt)"
  [2-ua-backprop]="ua-backprop:grouping=joint:reference=black+mean+blur@2+noise@0.3,ua-backprop:grouping=joint:reference=mix,ua-backprop:grouping=joint:reference=black,ua-backprop:grouping=joint:reference=blur@2,ua-backprop:grouping=joint:reference=black+mean+blur@2+noise@0.3:combine=mean-of-scaled-relu,ua-backprop:grouping=joint:reference=blur@1+blur@2+black+mean:path=ig:steps=4:combine=mean-of-scaled-relu,ua-backprop:grouping=class:reference=mix,ua-backprop:variant=paper"
  [3-gradients]="grad,smoothgrad,fullgrad,gradcam,ig,cov-gi,cov-ig,cov-lrp"
  [4-paths]="blur-ig,guided-ig,idgi-ig,idgi-blur-ig,idgi-guided-ig,noisegrad,noisegrad++"
  [5-expected-gradients]="expected-gradients:baseline=black,expected-gradients:baseline=max-distance,expected-gradients:baseline=uniform,expected-gradients:baseline=gaussian,expected-gradients:baseline=training-data:data=fashion-mnist"
  [6-rise]="rise"
  [7-clue]="clue:vae=runs/vae-fmnist,delta-clue:vae=runs/vae-fmnist"
  [8-uam]="uam,uam:complete=true,cov-lrp:form=diag"
  [9-shapley]="shapley"
  [10-cov-shapley]="cov-shapley"
)
unsure train-vae --data fashion-mnist --epochs 10 --out runs/vae-fmnist
for c in 1-core 2-ua-backprop 3-gradients 4-paths 5-expected-gradients 6-rise 7-clue 8-uam 9-shapley 10-cov-shapley; do
  unsure bench properties $COMMON --methods "${CHUNK[$c]}" --out runs/prop/fmnist-$c
done
mkdir -p docs/results/properties-fmnist/parts
for c in "${!CHUNK[@]}"; do
  mkdir -p docs/results/properties-fmnist/parts/$c
  cp runs/prop/fmnist-$c/properties.json runs/prop/fmnist-$c/properties.md docs/results/properties-fmnist/parts/$c/
done
python scripts/properties_merge.py docs/results/properties-fmnist/parts/*/properties.json \
    --out docs/results/properties-fmnist --force
# the Shapley family (about 26 s per image each on the shared CPU): the 10 most uncertain images, no re-run metrics
unsure bench properties --run runs/fmnist-ens5 --n 10 --method-n 0 --seed 0 --batch-size 50 \
    --sigmas 0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0 --methods shapley,cov-shapley \
    --out docs/results/properties-fmnist-shapley
