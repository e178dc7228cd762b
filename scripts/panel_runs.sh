#!/bin/sh
# The substitute-panel runs quoted in docs/results/blurring-panel.md (issue 13). Each writes
# blurring.json / .md / .png under docs/results/; the panel is the default --replacements.
set -e
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
VARIANT="ua-backprop:grouping=joint:reference=blur@1+blur@2+black+mean+noise@0.3:combine=mean-of-scaled-relu"  # the default of unsure.attribute
OLD="ua-backprop:grouping=class:reference=blur"
case "$1" in
  val-fmnist)   # screen: validation split, 50 images
    unsure bench blurring --run runs/fmnist-ens5 --split val --n 50 --fractions 0.02,0.05 --sigmas $S \
      --methods "$VARIANT,$OLD,inputgrad,inputgrad:reference=blur:blur_sigma=2,expected-gradients:baseline=gaussian,$VARIANT:path=ig:steps=4" \
      --out docs/results/blurring-panel-val-fmnist ;;
  cost)         # blur-only vs the whole panel on the same 20 test images
    unsure bench blurring --run runs/fmnist-ens5 --n 20 --fractions 0.02,0.05 --sigmas $S --methods "$OLD" \
      --replacements blur --out docs/results/blurring-panel-cost/blur
    unsure bench blurring --run runs/fmnist-ens5 --n 20 --fractions 0.02,0.05 --sigmas $S --methods "$OLD" \
      --out docs/results/blurring-panel-cost/panel ;;
  test-fmnist)  # final: test split, the 100 most epistemic images, the core set ($2 = which half)
    A="$VARIANT,$OLD,inputgrad,inputgrad:reference=blur:blur_sigma=2,expected-gradients:baseline=gaussian,random"
    B="$VARIANT,ua-backprop:variant=paper,grad,blur-ig,ig"
    eval M=\$$2
    unsure bench blurring --run runs/fmnist-ens5 --n 100 --fractions 0.02,0.05 --sigmas $S --methods "$M" \
      --out docs/results/blurring-panel-fmnist-$2 ;;
  digits)       # every registered method (VAE: unsure train-vae --data digits --epochs 200 --out runs/panel-vae-digits)
    unsure bench blurring --run runs/digits-ens5 --n 100 --methods "$(cat scripts/panel_methods_digits.txt)" \
      --out docs/results/blurring-panel-digits ;;
  val-digits)
    unsure bench blurring --run runs/digits-ens5 --split val --n 100 --methods "$(cat scripts/panel_methods_digits.txt)" \
      --out docs/results/blurring-panel-val-digits ;;
esac
