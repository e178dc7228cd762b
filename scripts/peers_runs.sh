#!/bin/sh
# The Fashion-MNIST runs of issue 29 quoted in docs/methods/{cov-*,shapley,uam}.md: the substitute
# panel (settings of scripts/panel_runs.sh test-fmnist-all, 100 most epistemic test images) of the
# new methods, in three runs, with anchors already in docs/results/blurring-panel-fmnist-all; placed
# among its 38 settings by scripts/panel_place.py; then their speed.
set -e
RUN=${RUN:-runs/fmnist-ens5}
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
OUT=docs/results/peers-panel-fmnist
panel() {  # $1: sub-folder, $2: methods
  unsure bench blurring --run $RUN --n 100 --fractions 0.02,0.05 --sigmas $S --methods "$2" \
    --out $OUT/$1 --no-progress
}
case "$1" in
  grads)    panel grads "random,inputgrad,cov-gi,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true" ;;
  shapley)  panel shapley "shapley,cov-shapley,cov-shapley:form=diag" ;;
  background) panel background "shapley:background=panel,shapley:background=data:data=fashion-mnist" ;;
  place)
    python scripts/panel_place.py docs/results/blurring-panel-fmnist-all/blurring.json \
      $OUT/grads/blurring.json $OUT/shapley/blurring.json $OUT/background/blurring.json > $OUT/place.md ;;
  speed)    # 4 images, best of 1, on the loaded shared 2-core machine: read the ratios to ua-backprop; a
            # background of G images costs G times shapley by construction
    unsure bench speed --run $RUN --n 4 --batch-size 4 --repeats 1 \
      --methods "ua-backprop,inputgrad,cov-gi,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true,shapley,cov-shapley,random" \
      --out docs/results/peers-speed-fmnist ;;
esac
