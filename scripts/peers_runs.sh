#!/bin/sh
# The Fashion-MNIST runs of issue 29 quoted in docs/methods/{cov-*,shapley,uam}.md: speed, then the
# substitute panel (settings of scripts/panel_runs.sh test-fmnist-all) of the new methods plus
# anchors already in docs/results/blurring-panel-fmnist-all, placed among its 38 settings by
# scripts/panel_place.py.
set -e
RUN=${RUN:-runs/fmnist-ens5}
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
NEW="cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,cov-shapley,cov-shapley:form=diag,uam,uam:complete=true,shapley:background=data:data=fashion-mnist,shapley:background=panel"
ANCHORS="random,inputgrad,cov-gi,shapley"
case "$1" in
  speed)
    unsure bench speed --run $RUN --n 20 --batch-size 10 --repeats 2 \
      --methods "ua-backprop,inputgrad,cov-gi,$NEW,shapley,random" --out docs/results/peers-speed-fmnist ;;
  panel)
    unsure bench blurring --run $RUN --n 100 --fractions 0.02,0.05 --sigmas $S \
      --methods "$ANCHORS,$NEW" --engine ray --workers 2 --cpus-per-worker 1 \
      --out docs/results/peers-panel-fmnist
    python scripts/panel_place.py docs/results/blurring-panel-fmnist-all/blurring.json \
      docs/results/peers-panel-fmnist/blurring.json > docs/results/peers-panel-fmnist/place.md ;;
esac
