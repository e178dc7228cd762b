#!/bin/sh
# The substitute-panel runs quoted in docs/results/blurring-panel.md (issue 13). Each writes
# blurring.json / .md / .png under docs/results/; the panel is the default --replacements.
set -e
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
VARIANT="ua-backprop:grouping=joint:reference=mix+noise@0.3:combine=mean-of-scaled-relu"  # the default of unsure.attribute
OLD="ua-backprop:grouping=class:reference=blur"
case "$1" in
  val-fmnist)   # the check of the default on Fashion-MNIST validation: the core set without random, 30 images
    unsure bench blurring --run runs/fmnist-ens5 --split val --n 30 --fractions 0.02,0.05 --sigmas $S \
      --methods "$(tr ',' '\n' < scripts/panel_methods_fmnist_core.txt | grep -v '^random$' | paste -sd,)" \
      --out docs/results/blurring-panel-val-fmnist ;;
  val-fmnist-full)  # the whole validation screen (scripts/panel_methods_val.txt) on 100 Fashion-MNIST validation images
    unsure bench blurring --run runs/fmnist-ens5 --split val --n 100 --fractions 0.02,0.05 --sigmas $S \
      --methods "$(paste -sd, scripts/panel_methods_val.txt)" --engine ray --workers 2 --cpus-per-worker 1 \
      --out docs/results/blurring-panel-val-fmnist-full ;;
  cost)         # blur-only vs the whole panel on the same 20 test images
    unsure bench blurring --run runs/fmnist-ens5 --n 20 --fractions 0.02,0.05 --sigmas $S --methods "$OLD" \
      --replacements blur --out docs/results/blurring-panel-cost/blur
    unsure bench blurring --run runs/fmnist-ens5 --n 20 --fractions 0.02,0.05 --sigmas $S --methods "$OLD" \
      --out docs/results/blurring-panel-cost/panel ;;
  test-fmnist)  # the test split, 100 most epistemic images, the core set (8 settings; 36 min on 2 cores)
    unsure bench blurring --run runs/fmnist-ens5 --n 100 --fractions 0.02,0.05 --sigmas $S \
      --methods "$(cat scripts/panel_methods_fmnist_core.txt)" --engine ray --workers 2 --cpus-per-worker 1 \
      --out docs/results/blurring-panel-fmnist ;;
  test-fmnist-all)  # every registered method, 38 settings (VAE: unsure train-vae --data fashion-mnist --epochs 10 --out runs/vae-fmnist)
    unsure bench blurring --run runs/fmnist-ens5 --n 100 --fractions 0.02,0.05 --sigmas $S \
      --methods "$(cat scripts/panel_methods_fmnist.txt)" --engine ray --workers 2 --cpus-per-worker 1 \
      --out docs/results/blurring-panel-fmnist-all ;;
  digits)       # every registered method (VAE: unsure train-vae --data digits --epochs 200 --out runs/panel-vae-digits)
    unsure bench blurring --run runs/digits-ens5 --n 100 --methods "$(cat scripts/panel_methods_digits.txt)" \
      --out docs/results/blurring-panel-digits ;;
  val-digits)   # the selection screen on digits
    unsure bench blurring --run runs/digits-ens5 --split val --n 100 --methods "$(paste -sd, scripts/panel_methods_val.txt)" \
      --out docs/results/blurring-panel-val-digits ;;
esac
