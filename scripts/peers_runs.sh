#!/bin/sh
# The Fashion-MNIST runs of issue 29 quoted in docs/methods/{cov-*,shapley,uam}.md: the substitute
# panel (settings of scripts/panel_runs.sh test-fmnist-all, 100 most epistemic test images) of the
# new methods, in three runs, with anchors already in docs/results/blurring-panel-fmnist-all (the
# re-trained runs/fmnist-ens5 picks other images, so they cannot be placed there); panel38 +
# shapley20 + background20 re-run the 38 settings with the new methods on the current run's 20 most epistemic
# test images and place places them (needs runs -> /work/runs); then their speed (speed, speed2).
set -e
RUN=${RUN:-runs/fmnist-ens5}
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
OUT=docs/results/peers-panel-fmnist
panel() {  # $1: sub-folder, $2: methods, $3: images (default 100)
  unsure bench blurring --run $RUN --n ${3:-100} --fractions 0.02,0.05 --sigmas $S --methods "$2" \
    --out $OUT/$1 --no-progress
}
case "$1" in
  grads)    panel grads "random,inputgrad,cov-gi,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true" ;;
  shapley)  panel shapley "shapley,cov-shapley,cov-shapley:form=diag" ;;
  background) panel background "shapley:background=panel,shapley:background=data:data=fashion-mnist" ;;
  panel38)  # the settings of scripts/panel_methods_fmnist.txt (less clue/delta-clue: no Fashion-MNIST
            # VAE exists; less shapley: run below) and the new methods on the same N=20 most epistemic
            # test images of the current runs/fmnist-ens5, in three runs (one at a time) that
            # scripts/panel_place.py joins
    N=${N:-20}
    NEW="inputgrad,cov-gi,random,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true"
    OLD=$(tr ',' '\n' < scripts/panel_methods_fmnist.txt | grep -v -e '^clue:' -e '^delta-clue:' -e '^shapley$' \
          -e '^inputgrad$' -e '^cov-gi$' -e '^random$')
    A2=$(echo "$OLD" | grep -e '^ua-backprop' -e '^grad$' -e '^inputgrad:' -e '^smoothgrad$' -e '^fullgrad$' -e '^gradcam$' | paste -sd,)
    A3=$(echo "$OLD" | grep -v -e '^ua-backprop' -e '^grad$' -e '^inputgrad:' -e '^smoothgrad$' -e '^fullgrad$' -e '^gradcam$' | paste -sd,)
    for part in "a1 $NEW" "a2 $A2" "a3 $A3"; do
      set -- $part
      unsure bench blurring --run $RUN --n $N --fractions 0.02,0.05 --sigmas $S --methods "$2" \
        --out $OUT/n$N/$1 --no-progress
    done ;;
  shapley20)  # the Shapley family (shapley is one of the 38; 26 s per image and more on the shared
            # machine) on the same 20 images as panel38, one run; backgrounds (7x and 16x shapley's
            # cost) not run
    panel n20/a4 "shapley,cov-shapley,cov-shapley:form=diag" 20 ;;
  background20)  # shapley:background=panel (7 games: 7x shapley's cost) on the same 20 images;
            # background=data (16x) not run
    panel n20/a5 "shapley:background=panel" 20 ;;
  place)    # the 38 settings (35 runnable) and the new methods, same 20 images
    python scripts/panel_place.py --old scripts/panel_methods_fmnist.txt $OUT/n20/a1/blurring.json \
      $OUT/n20/a2/blurring.json $OUT/n20/a3/blurring.json $(ls $OUT/n20/a4/blurring.json $OUT/n20/a5/blurring.json 2>/dev/null) \
      --show "ua-backprop:grouping=joint:reference=mix+noise@0.3:combine=mean-of-scaled-relu,inputgrad,shapley,cov-gi,random" \
      --against docs/results/blurring-panel-fmnist-all/blurring.json > $OUT/place.md ;;
  speed)    # 4 images, best of 1, on the loaded shared 2-core machine: read the ratios to ua-backprop; a
            # background of G images costs G times shapley by construction
    unsure bench speed --run $RUN --n 4 --batch-size 4 --repeats 1 \
      --methods "ua-backprop,inputgrad,cov-gi,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true,shapley,cov-shapley,random" \
      --out docs/results/peers-speed-fmnist ;;
  speed2)   # the same methods and cov-shapley:form=diag, 4 images, best of 2; the load average is
            # printed before and after (quoted in docs/results/peers-speed-fmnist-best2/README.md)
    uptime
    unsure bench speed --run $RUN --n 4 --batch-size 4 --repeats 2 \
      --methods "ua-backprop,inputgrad,cov-gi,cov-gi:form=diag,cov-ig,cov-ig:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true,shapley,cov-shapley,cov-shapley:form=diag,random" \
      --out docs/results/peers-speed-fmnist-best2
    uptime ;;
esac
