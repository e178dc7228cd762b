#!/bin/sh
# The runs quoted in docs/results/groundtruth.md (issue 24). Posteriors live in /work/runs (not in git).
set -e
S=0.2,0.4,0.6,1.0,1.6,2.4,3.6,5.0,8.0,12.0,20.0
DEFAULT="ua-backprop:grouping=joint:reference=mix+noise@0.3:combine=mean-of-scaled-relu"  # unsure.attribute's default
CHEAP="$DEFAULT,ua-backprop,ua-backprop:variant=paper,inputgrad,grad,inputgrad:reference=blur:blur_sigma=2,fullgrad,gradcam,cov-gi,random"
PATHS="expected-gradients,ig"
B2J="ua-backprop:grouping=joint:reference=black+blur@2:combine=mean-of-scaled-relu"  # seventh session's mixtures
B2C="ua-backprop:grouping=class:reference=black+blur@2:combine=mean-of-scaled-relu"
SCREEN7="ua-backprop:grouping=joint:reference=black,ua-backprop:grouping=joint:reference=blur@2,ua-backprop:grouping=class:reference=black,$B2J,$B2C,ua-backprop:grouping=joint:reference=mix,ua-backprop:grouping=joint:reference=black+mean+blur@2+noise@0.3:combine=mean-of-scaled-relu"
R=/work/runs/gt-fmnist
# five one-member trainings of the second-session recipe (6 epochs, drop at 5, each member on its own seeded
# random 50,000 images), one after another, joined: members5 DATA.npz DIR PREFIX ENSEMBLE [train flags]
members5() {
  for i in 0 1 2 3 4; do
    python -m unsure.cli.main train --data npz:$1 $5 --posterior ensemble --members 1 --epochs 6 --milestones 5 \
      --limit 50000 --subset-seed $i --seed $i --out $2/$3$i --no-progress
  done
  python scripts/ensemble_join.py $2/${3}0 $2/${3}1 $2/${3}2 $2/${3}3 $2/${3}4 --out $2/$4
}
case "$1" in
  data-fmnist)   # the generated Fashion-MNIST training data (30% of the images with a planted blend)
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$R'), 'fashion-mnist', Design(partner='any'), 0)" ;;
  train-fmnist)  # five one-member trainings in parallel (a shared 2-core CPU), joined into one 5-member ensemble
    for i in 0 1 2 3 4; do
      python -m unsure.cli.main train --data npz:$R/data/train.npz --posterior ensemble --members 1 --epochs 2 \
        --limit 30000 --seed $i --out $R/member$i --no-progress &
    done; wait
    python scripts/ensemble_join.py $R/member0 $R/member1 $R/member2 $R/member3 $R/member4 --out $R/ens5 ;;
  design-fmnist)  # validity on the VALIDATION split for the test-time design grid (nats vs ratio, then sizes)
    python scripts/groundtruth_design.py --run $R/ens5 --data fashion-mnist --n 300 --epistemic-shares 0.36 \
      --min-rises 0.02,0.05 --compares nats,ratio --json docs/results/groundtruth-design-fmnist-nats.json
    python scripts/groundtruth_design.py --run $R/ens5 --data fashion-mnist --n 300 --epistemic-shares 0.3,0.45,0.5 \
      --min-rises 0.0,0.005,0.01,0.02 --compares ratio --json docs/results/groundtruth-design-fmnist.json ;;
  fmnist)        # the test split: cheap methods with the panel, the path methods, Shapley on fewer images
    python -m unsure.cli.main bench groundtruth --run $R/ens5 --n 300 --methods "$CHEAP" --panel-n 5 --fractions 0.02 \
      --sigmas $S --out docs/results/groundtruth-fmnist ;;
  fmnist-paths)
    python -m unsure.cli.main bench groundtruth --run $R/ens5 --n 150 --methods "$DEFAULT,$PATHS" --panel-n 0 \
      --out docs/results/groundtruth-fmnist-paths ;;
  fmnist-shapley)
    python -m unsure.cli.main bench groundtruth --run $R/ens5 --n 30 --targets epistemic --methods "$DEFAULT,shapley,random" --panel-n 0 \
      --out docs/results/groundtruth-fmnist-shapley ;;
  val-fmnist)    # the validation split, for choosing the default (section 6)
    python -m unsure.cli.main bench groundtruth --run $R/ens5 --split val --n 150 --methods "$CHEAP" --panel-n 5 --fractions 0.02 \
      --sigmas $S --out docs/results/groundtruth-val-fmnist ;;
  train-colour)  # the colour variant: 3 members, 3 epochs on 20,000 generated colour images
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('/work/runs/gt-colour'), 'colour:fashion-mnist', Design(partner='any'), 0)"
    python -m unsure.cli.main train --data npz:/work/runs/gt-colour/data/train.npz --posterior ensemble --members 3 \
      --epochs 3 --milestones 2 --limit 20000 --seed 0 --out /work/runs/gt-colour/ens3 --no-progress ;;
  colour)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour/ens3 --n 150 --methods "$CHEAP" --panel-n 0 \
      --out docs/results/groundtruth-colour ;;
  digits)        # digits: the bench's own train-and-cache path
    python -m unsure.cli.main bench groundtruth --data digits --labels drawn --partner any --epochs 30 --milestones "" --n 300 --methods "$CHEAP" \
      --panel-n 10 --out docs/results/groundtruth-digits ;;
  digits-posteriors)  # MC dropout and last-layer Laplace, trained and cached by the bench itself
    for P in mc-dropout laplace; do
      python -m unsure.cli.main bench groundtruth --data digits --labels drawn --partner any --posterior $P --epochs 30 --milestones "" --n 150 \
        --methods "$CHEAP" --panel-n 0 --out docs/results/groundtruth-digits-$P
    done ;;
  train-fmnist2) # issue 24, second session: a better-trained 5-member ensemble on the same generated data (full
                 # 6 epochs, drop at 5; each member on its own seeded random 50,000 of the 55,000 images), members one after another
    members5 $R/data/train.npz /work/runs/gt-fmnist2 member ens5 ;;
  design-fmnist2) # validity of the better-trained ensemble on the VALIDATION split, both rules
    python scripts/groundtruth_design.py --run /work/runs/gt-fmnist2/ens5 --data fashion-mnist --n 300 --epistemic-shares 0.45 \
      --min-rises 0.005 --compares nats,ratio --json docs/results/groundtruth-design-fmnist2.json ;;
  design-w05)    # a training-design trial on VALIDATION: blends of weight exactly 0.5 in training (labels 50/50), 3 members
    W=/work/runs/gt-fmnist-w05
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$W'), 'fashion-mnist', Design(train_weights=(0.5, 0.5), partner='any'), 0)"
    for i in 0 1 2; do
      python -m unsure.cli.main train --data npz:$W/data/train.npz --posterior ensemble --members 1 --epochs 6 --milestones 5 \
        --limit 50000 --subset-seed $i --seed $i --out $W/member$i --no-progress
    done
    python scripts/ensemble_join.py $W/member0 $W/member1 $W/member2 --out $W/ens3
    python scripts/groundtruth_design.py --run $W/ens3 --data fashion-mnist --n 300 --epistemic-shares 0.45 \
      --min-rises 0.005 --compares nats,ratio --json docs/results/groundtruth-design-fmnist-w05.json ;;
  fmnist2)       # the test split on the better-trained ensemble: the ten settings, the issue-29 peers, the panel on 3 images per target
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-fmnist2/ens5 --n 300 \
      --methods "$CHEAP,cov-gi:form=diag,cov-lrp,cov-lrp:form=diag" --panel-n 3 --fractions 0.02 --sigmas $S \
      --out docs/results/groundtruth-fmnist2 ;;
  fmnist2-paths) # the path and noise methods (0.1-0.3 s per map each) on fewer images: a 220-image run was
                 # stopped after 45 minutes at a third of its work (IG and EG ran on the first ensemble, section 7b)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-fmnist2/ens5 --n 80 --panel-n 0 \
      --methods "$DEFAULT,blur-ig,guided-ig,idgi-ig,idgi-blur-ig,idgi-guided-ig,smoothgrad,noisegrad,noisegrad++,random" \
      --out docs/results/groundtruth-fmnist2-paths ;;
  fmnist2-slow)  # the methods that cost seconds per map: few images, epistemic maps only
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-fmnist2/ens5 --n 30 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,rise,cov-ig,shapley,cov-shapley,random" --out docs/results/groundtruth-fmnist2-slow ;;
  val-fmnist2)   # the default rule of section 6 again, on the VALIDATION split of the better-trained ensemble
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-fmnist2/ens5 --split val --n 150 --methods "$CHEAP" --panel-n 5 \
      --fractions 0.02 --sigmas $S --out docs/results/groundtruth-val-fmnist2
    python scripts/groundtruth_default.py docs/results/groundtruth-val-fmnist2/groundtruth.json ;;
  fmnist2-peers) # the rest of the issue-29 methods (UAM is made for evidential nets; here it explains the ensemble's uncertainty)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-fmnist2/ens5 --n 100 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,uam,uam:complete=true,cov-ig:form=diag,random" --out docs/results/groundtruth-fmnist2-peers ;;
  train-fmnist3) # issue 24, third session: the same recipe as train-fmnist2 on the blends' label DISTRIBUTIONS
                 # (--soft-labels) instead of one drawn label per image; fresh data with p_train / p_test
    R3=/work/runs/gt-fmnist3
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$R3'), 'fashion-mnist', Design(partner='any'), 0, soft_labels=True)"
    members5 $R3/data/train.npz $R3 member ens5 --soft-labels ;;
  design-fmnist3) # its validity on the VALIDATION split
    python scripts/groundtruth_design.py --run /work/runs/gt-fmnist3/ens5 --data fashion-mnist --n 300 --epistemic-shares 0.45 \
      --min-rises 0.005 --compares nats,ratio --json docs/results/groundtruth-design-fmnist3-ens5.json ;;
  train-paired)  # issue 24, third session: blends with the class's FIXED PAIR (T-shirt/sandal, trouser/shirt, ...) and
                 # label distributions; otherwise the recipe of train-fmnist2 (5 members, 6 epochs, a random 50,000 each)
    P=/work/runs/gt-paired
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$P'), 'fashion-mnist', Design(partner='paired'), 0, soft_labels=True)"
    members5 $P/data/train.npz $P member ens5 --soft-labels ;;
  design-paired) # validity of the paired ensemble on the VALIDATION split, and what it makes of the blends
    python scripts/groundtruth_design.py --run /work/runs/gt-paired/ens5 --data fashion-mnist --n 300 --epistemic-shares 0.45 \
      --partner paired --min-rises 0.005 --compares nats,ratio --json docs/results/groundtruth-design-paired.json
    python scripts/groundtruth_blend_diagnosis.py --run /work/runs/gt-fmnist2/ens5 > docs/results/groundtruth-blends-fmnist2.json
    python scripts/groundtruth_blend_diagnosis.py --run /work/runs/gt-paired/ens5 > docs/results/groundtruth-blends-paired.json ;;
  val-paired)    # the default rule of section 6 on the VALIDATION split of the paired ensemble (before its test split)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --split val --n 150 --methods "$CHEAP" --panel-n 5 \
      --fractions 0.02 --sigmas $S --out docs/results/groundtruth-val-paired
    python scripts/groundtruth_default.py docs/results/groundtruth-val-paired/groundtruth.json ;;
  paired)        # the test split on the paired ensemble: the ten settings, the Cov peers, the panel on 3 images per target
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 300 \
      --methods "$CHEAP,cov-gi:form=diag,cov-lrp,cov-lrp:form=diag,uam,uam:complete=true" --panel-n 3 --fractions 0.02 --sigmas $S \
      --out docs/results/groundtruth-paired ;;
  paired-entanglement) # sixth session: the model's own split of each kind between the two causes, beside the maps'
                 # shares of their mass on the two causes (the `paired` images; aleatoric and epistemic maps only)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 300 --target aleatoric,epistemic \
      --methods "${CHEAP%,cov-gi,random},random" --panel-n 0 --out docs/results/groundtruth-paired-entanglement ;;
  entanglement-posteriors) # sixth session: the same for MC dropout and Laplace (the runs of paired-posteriors, 150 base
                 # images) and the colour ensemble (150 base images)
    for P in mc-dropout laplace; do
      python -m unsure.cli.main bench groundtruth --run docs/results/groundtruth-paired-$P/runs/$P-e6-s0-soft --n 150 \
        --target aleatoric,epistemic --methods "${CHEAP%,cov-gi,random},random" --panel-n 0 \
        --out docs/results/groundtruth-paired-entanglement-$P
    done
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 150 --target aleatoric,epistemic \
      --methods "${CHEAP%,cov-gi,random},random" --panel-n 0 --out docs/results/groundtruth-colour-entanglement ;;
  defaults-fmnist) # sixth session: what a user gets from the bench's own defaults on Fashion-MNIST (it generates the
                 # data, trains 5 members for 4 epochs on all of it and scores the default methods; nothing chosen here)
    python -m unsure.cli.main bench groundtruth --data fashion-mnist --out /work/runs/gt-defaults
    cp /work/runs/gt-defaults/groundtruth.json docs/results/groundtruth-defaults-fmnist.json ;;
  paired-paths)  # the path and noise methods (0.1-0.6 s per map each) on 200 base images
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 200 --panel-n 0 \
      --methods "$DEFAULT,ig,expected-gradients,blur-ig,guided-ig,idgi-ig,idgi-blur-ig,idgi-guided-ig,smoothgrad,noisegrad,noisegrad++,random" \
      --out docs/results/groundtruth-paired-paths ;;
  paired-slow)   # the methods that cost seconds to a minute per map: 20 base images, epistemic maps only
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 20 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,rise,cov-ig,cov-ig:form=diag,shapley,shapley:background=panel,cov-shapley,random" \
      --out docs/results/groundtruth-paired-slow ;;
  paired-clue)   # CLUE and delta-CLUE need a VAE of the generated training images
    python -m unsure.cli.main train-vae --data npz:/work/runs/gt-paired/data/train.npz --epochs 10 --out /work/runs/vae-gt-paired --no-progress
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 60 --panel-n 0 \
      --methods "$DEFAULT,clue:vae=/work/runs/vae-gt-paired,delta-clue:vae=/work/runs/vae-gt-paired,random" \
      --out docs/results/groundtruth-paired-clue
    python scripts/groundtruth_recon_baseline.py --run /work/runs/gt-paired/ens5 --vae /work/runs/vae-gt-paired --n 60 \
      --json docs/results/groundtruth-paired-clue/reconstruction-error.json ;;
  paired-posteriors) # MC dropout and last-layer Laplace on the paired data, trained and cached by the bench itself
    for P in mc-dropout laplace; do
      python -m unsure.cli.main bench groundtruth --data fashion-mnist --partner paired --labels soft --posterior $P --epochs 6 \
        --milestones 5 --n 150 \
        --methods "$CHEAP" --panel-n 0 --out docs/results/groundtruth-paired-$P
    done ;;
  train-colour-paired) # the colour variant with the third-session design (fixed pairs, label distributions): 3 members,
                 # 4 epochs (drop at 3), each on its own seeded random 30,000 of the generated training images
    C=/work/runs/gt-colour-paired
    python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$C'), 'colour:fashion-mnist', Design(), 0, soft_labels=True)"
    for i in 0 1 2; do
      python -m unsure.cli.main train --data npz:$C/data/train.npz --soft-labels --posterior ensemble --members 1 --epochs 4 \
        --milestones 3 --limit 30000 --subset-seed $i --seed $i --out $C/member$i --no-progress
    done
    python scripts/ensemble_join.py $C/member0 $C/member1 $C/member2 --out $C/ens3 ;;
  colour-paired) # its validity on VALIDATION, then the test split with the ten settings, the Cov peers and the panel
    python scripts/groundtruth_design.py --run /work/runs/gt-colour-paired/ens3 --data colour:fashion-mnist --n 300 \
      --epistemic-shares 0.45 --partner paired --min-rises 0.005 --compares ratio --json docs/results/groundtruth-design-colour-paired.json
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 150 \
      --methods "$CHEAP,cov-lrp,cov-lrp:form=diag,uam" --panel-n 3 --fractions 0.02 --sigmas $S \
      --out docs/results/groundtruth-colour-paired ;;
  paired-10)     # does a larger ensemble pass more? five more members of the same recipe (seeds 5-9), joined with the
                 # first five into ten, validity on the same 300 VALIDATION images
    P=/work/runs/gt-paired
    for i in 5 6 7 8 9; do
      python -m unsure.cli.main train --data npz:$P/data/train.npz --soft-labels --posterior ensemble --members 1 --epochs 6 \
        --milestones 5 --limit 50000 --subset-seed $i --seed $i --out $P/member$i --no-progress
    done
    python scripts/ensemble_join.py $P/member0 $P/member1 $P/member2 $P/member3 $P/member4 $P/member5 $P/member6 $P/member7 \
      $P/member8 $P/member9 --out $P/ens10
    python scripts/groundtruth_design.py --run $P/ens10 --data fashion-mnist --n 300 --epistemic-shares 0.45 --partner paired \
      --min-rises 0.005 --compares ratio --json docs/results/groundtruth-design-paired-10.json ;;
  paired-cov)    # fourth session: the Cov family's slow members at 200+ scored images per cause (epistemic maps
                 # only: they explain epistemic uncertainty), 180 base images
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,cov-ig,cov-ig:form=diag,cov-shapley,random" --out docs/results/groundtruth-paired-cov ;;
  paired-rise)   # fourth session: RISE at 200+ scored epistemic maps (180 base images; epistemic maps only, about 4 CPU s a map)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,rise,random" --out docs/results/groundtruth-paired-rise ;;
  paired-shapley) # fourth session: patch Shapley values at 200+ scored epistemic maps (180 base images, epistemic only)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,shapley,random" --out docs/results/groundtruth-paired-shapley ;;
  paired-shapley-bg) # Shapley values against a background set (shapley:background=panel) at 200+ scored epistemic
                 # maps, 180 base images. The fifth session's run on one core was stopped unfinished after 103 CPU
                 # minutes (over 25 CPU s a map); the sixth runs it on both cores with the Ray engine
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,shapley:background=panel,random" --engine ray --workers 2 --chunk-size 20 \
      --out docs/results/groundtruth-paired-shapley-bg ;;
  paired-slow-at) # fourth session: RISE and Shapley on total and aleatoric maps too (the same 180 base images)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target total,aleatoric --panel-n 0 \
      --methods "$DEFAULT,shapley,random" --out docs/results/groundtruth-paired-shapley-ta
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --target total,aleatoric --panel-n 0 \
      --methods "$DEFAULT,rise,random" --out docs/results/groundtruth-paired-rise-ta ;;
  paired-clue180) # fourth session: CLUE and delta-CLUE at 200+ scored images per cause (180 base images), and the
                 # VAE's reconstruction error alone on the same images
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --n 180 --panel-n 0 \
      --methods "$DEFAULT,clue:vae=/work/runs/vae-gt-paired,delta-clue:vae=/work/runs/vae-gt-paired,random" \
      --out docs/results/groundtruth-paired-clue180
    python scripts/groundtruth_recon_baseline.py --run /work/runs/gt-paired/ens5 --vae /work/runs/vae-gt-paired --n 180 \
      --json docs/results/groundtruth-paired-clue180/reconstruction-error.json ;;
  colour-paths)  # fourth session: the path and noise methods on the colour variant (test split)
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 100 --panel-n 0 \
      --methods "$DEFAULT,ig,expected-gradients,blur-ig,guided-ig,idgi-ig,idgi-blur-ig,idgi-guided-ig,smoothgrad,noisegrad,noisegrad++,random" \
      --out docs/results/groundtruth-colour-paths ;;
  colour-slow)   # fourth session: the slow methods on the colour variant, epistemic maps only
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 30 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,rise,cov-ig,cov-ig:form=diag,shapley,shapley:background=panel,cov-shapley,random" \
      --out docs/results/groundtruth-colour-slow ;;
  colour-slow100) # fourth session: the slow methods that lead or follow the default on colour, on 100 base images
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 100 --target epistemic --panel-n 0 \
      --methods "$DEFAULT,rise,shapley,cov-shapley,random" --out docs/results/groundtruth-colour-slow100 ;;
  colour-clue)   # fourth session: CLUE and delta-CLUE on the colour variant, with a conv VAE of its generated training images
    python -m unsure.cli.main train-vae --data npz:/work/runs/gt-colour-paired/data/train.npz --kind conv --epochs 10 \
      --out /work/runs/vae-gt-colour-paired --no-progress
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --n 60 --panel-n 0 \
      --methods "$DEFAULT,clue:vae=/work/runs/vae-gt-colour-paired,delta-clue:vae=/work/runs/vae-gt-colour-paired,random" \
      --out docs/results/groundtruth-colour-clue
    python scripts/groundtruth_recon_baseline.py --run /work/runs/gt-colour-paired/ens3 --vae /work/runs/vae-gt-colour-paired \
      --n 60 --json docs/results/groundtruth-colour-clue/reconstruction-error.json ;;
  train-paired-long) # fourth session: does longer training pass more? the train-paired recipe with 12 epochs (drop at
                 # 10) instead of 6, the same data, subsets and seeds; then validity on the same 300 VALIDATION images
    P=/work/runs/gt-paired
    for i in 0 1 2 3 4; do
      python -m unsure.cli.main train --data npz:$P/data/train.npz --soft-labels --posterior ensemble --members 1 --epochs 12 \
        --milestones 10 --limit 50000 --subset-seed $i --seed $i --out $P/long$i --no-progress
    done
    python scripts/ensemble_join.py $P/long0 $P/long1 $P/long2 $P/long3 $P/long4 --out $P/long-ens5
    python scripts/groundtruth_design.py --run $P/long-ens5 --data fashion-mnist --n 300 --epistemic-shares 0.45 --partner paired \
      --min-rises 0.005 --compares ratio --json docs/results/groundtruth-design-paired-long.json ;;
  breakdown)     # fourth session: where validity fails (class, clean uncertainty, right / wrong), 300 VALIDATION images
    python scripts/groundtruth_validity_breakdown.py --run /work/runs/gt-paired/ens5 --n 300 \
      --json docs/results/groundtruth-validity-breakdown.json ;;
  prior-trial)   # fourth session: randomized prior functions (Osband et al. 2018) against plain members, same short
                 # recipe (3 members, 3 epochs, a random 30,000 each), validity on 300 VALIDATION images
    for s in 0 3; do
      python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-paired/data/train.npz --prior-scale $s --members 3 \
        --epochs 3 --limit 30000 --json docs/results/groundtruth-prior-trial-$s.json
    done   # and the same plain members without dropout (the paper CNN's 0.5):
    python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-paired/data/train.npz --prior-scale 0 --dropout 0 \
      --members 3 --epochs 3 --limit 30000 --json docs/results/groundtruth-prior-trial-0-dropout0.json ;;
  control-trial) # fifth session: control blends in training (a ghost that leaves the label alone: another image of the
                 # own class, of a third class, or a flat Cutout fill), same short recipe, validity on 300 VALIDATION images
    for m in same:0.3 third:0.3 cutout:0.3 cutout:0.5; do
      mode=${m%%:*}; share=${m#*:}; D=/work/runs/gt-ctrl-$mode; [ $mode = cutout ] && D=$D$share
      python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$D'), 'fashion-mnist', Design(partner='paired', control_share=$share, control='$mode'), 0, soft_labels=True)"
      out=docs/results/groundtruth-control-trial-$mode.json; [ $mode = cutout ] && out=docs/results/groundtruth-control-trial-cutout$share.json
      python scripts/groundtruth_prior_trial.py --data npz:$D/data/train.npz --members 3 --epochs 3 --limit 30000 --json $out
    done ;;
  region-trial)  # fifth session: a smaller aleatoric region (0.35 and 0.25 of the side; patches up to 0.65), and one fixed
                 # training blend weight w = 0.5 (with 30% and 50% of the images blended); same short recipe, VALIDATION
    for as in 0.35 0.25; do
      python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('/work/runs/gt-al$as'), 'fashion-mnist', Design(partner='paired', aleatoric_share=$as), 0, soft_labels=True)"
      python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-al$as/data/train.npz --members 3 --epochs 3 --limit 30000 \
        --epistemic-shares 0.35,0.45,0.55,0.65 --json docs/results/groundtruth-region-trial-al$as.json
    done
    for cfg in "w05:train_weights=(0.5,0.5)" "w05s5:train_weights=(0.5,0.5),train_share=0.5"; do
      n=${cfg%%:*}; kw=${cfg#*:}
      python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('/work/runs/gt-$n'), 'fashion-mnist', Design(partner='paired', $kw), 0, soft_labels=True)"
      python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-$n/data/train.npz --members 3 --epochs 3 --limit 30000 \
        --epistemic-shares 0.45,0.5 --json docs/results/groundtruth-region-trial-$n.json
    done ;;
  share-trial)   # fifth session: fewer blended training images (10% and 15% instead of 30%): sharper members?
    for ts in 0.1 0.15; do
      python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('/work/runs/gt-ts$ts'), 'fashion-mnist', Design(partner='paired', train_share=$ts), 0, soft_labels=True)"
      python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-ts$ts/data/train.npz --members 3 --epochs 3 --limit 30000 \
        --json docs/results/groundtruth-region-trial-share$ts.json
    done ;;
  spread-trial)  # sixth session: the blend's label mass spread evenly over all other classes (Design.ambiguity="spread"),
                 # with ghosts of any class and of the fixed pair; the short recipe, VALIDATION
    for P in any paired; do
      D=/work/runs/gt-spread-$P
      python -c "from pathlib import Path; from unsure.groundtruth.cache import training_data; from unsure.groundtruth import Design; training_data(Path('$D'), 'fashion-mnist', Design(partner='$P', ambiguity='spread'), 0, soft_labels=True)"
      python scripts/groundtruth_prior_trial.py --data npz:$D/data/train.npz --members 3 --epochs 3 --limit 30000 \
        --json docs/results/groundtruth-spread-trial-$P.json
    done ;;
  temperature-trial) # sixth session: each member of the adopted ensemble sharpened (logits / T), VALIDATION, forwards only
    python scripts/groundtruth_temperature_trial.py --run /work/runs/gt-paired/ens5 --temperatures 1,0.75,0.5,0.35 \
      --json docs/results/groundtruth-temperature-trial.json ;;
  oracle-trial)  # sixth session: an UPPER BOUND, not a recipe: members shown the test's own patch kinds in training, each
                 # pushed to its own wrong class there (alpha 0.5 and 1); can the rule pass 80% at all? VALIDATION
    for A in 0.5 1.0; do
      python scripts/groundtruth_oracle_trial.py --data npz:/work/runs/gt-paired/data/train.npz --alpha $A \
        --json docs/results/groundtruth-oracle-trial-$A.json
    done
    for E in 3 6; do  # more patched images (60% of each batch), 3 and 6 epochs
      python scripts/groundtruth_oracle_trial.py --data npz:/work/runs/gt-paired/data/train.npz --alpha 1 \
        --patched-share 0.6 --epochs $E --json docs/results/groundtruth-oracle-trial-1.0-s0.6-e$E.json
    done  # and at the full recipe's scale: five members, a random 50,000, 6 epochs (drop at 5)
    python scripts/groundtruth_oracle_trial.py --data npz:/work/runs/gt-paired/data/train.npz --alpha 1 --patched-share 0.6 \
      --epochs 6 --members 5 --limit 50000 --json docs/results/groundtruth-oracle-trial-full.json ;;
  plain-run)     # fifth session: the ensemble trained on plain Fashion-MNIST (no blends) on 300 validation base images
    python -m unsure.cli.main bench groundtruth --run /work/runs/fmnist-ens5 --data fashion-mnist --split val --n 300 \
      --methods random --panel-n 0 --out docs/results/groundtruth-plain-fmnist-ens5 ;;
  diversity-trial) # fifth session: three members trained together on one random 30,000, with an input-gradient diversity
                 # penalty (local independence training, Ross et al. 2020) of weight 0 (none), 1, 3, 10 and 30, and 10 on the
                 # images with a one-hot target only; VALIDATION
    for l in 0 1 3 10 30; do
      python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-paired/data/train.npz --members 3 --epochs 3 \
        --limit 30000 --diversity $l --json docs/results/groundtruth-diversity-trial-$l.json
    done
    python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-paired/data/train.npz --members 3 --epochs 3 \
      --limit 30000 --diversity 10 --diversity-on clean --json docs/results/groundtruth-diversity-trial-10-clean.json ;;
  arch-trial)    # fifth session: members of three architectures, and of the mitigation CNN alone; short recipe, VALIDATION
    P=/work/runs/gt-paired/data/train.npz
    python scripts/groundtruth_prior_trial.py --data npz:$P --members 3 --epochs 3 --limit 30000 \
      --archs paper-cnn,lenet,mitigation-cnn --json docs/results/groundtruth-arch-trial-mixed.json
    python scripts/groundtruth_prior_trial.py --data npz:$P --members 3 --epochs 3 --limit 30000 \
      --archs mitigation-cnn --json docs/results/groundtruth-arch-trial-mitigation-cnn.json ;;
  design-paired-grid) # fifth session: patch size x test blend weight on the adopted ensemble (test-time only, VALIDATION)
    python scripts/groundtruth_design.py --run /work/runs/gt-paired/ens5 --data fashion-mnist --n 300 \
      --epistemic-shares 0.25,0.3,0.35,0.4,0.45 --test-weights 0.4,0.5,0.6 --min-rises 0.005 --compares ratio \
      --json docs/results/groundtruth-design-paired-grid.json ;;
  patch-trial)   # fifth session: each epistemic kind alone (and four trial kinds), the patch's placement, and where the
                 # probability goes, on the adopted ensemble (forward passes only, VALIDATION)
    python scripts/groundtruth_patch_trial.py --run /work/runs/gt-paired/ens5 --json docs/results/groundtruth-patch-trial.json ;;
  val-complete)  # seventh session: the rule of section 6 on the VALIDATION split again, with the complete twins of
                 # gradient x input and gradient x (x - blur) (joint grouping, one reference: the same ranking) and
                 # two-reference mixtures of black and blur@2 among the candidates
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --split val --n 150 --panel-n 5 \
      --methods "$DEFAULT,ua-backprop-class,$SCREEN7,random" --fractions 0.02 --sigmas $S \
      --out docs/results/groundtruth-val-paired-complete
    python scripts/groundtruth_default.py docs/results/groundtruth-val-paired-complete/groundtruth.json ;;
  screen)        # seventh session: the real-data validation screen of the default (scripts/panel_methods_val.txt) and
                 # the two black+blur@2 mixtures, on the ground truth (300 VALIDATION base images, then the same on
                 # the test split), the two real-data validation panels, and the ground truth beside the panel rule
    # the default first (the report's paired tests are the first method against each other), then the screen
    V="$DEFAULT,$(grep -vxF "$DEFAULT" scripts/panel_methods_val.txt | paste -sd,),$B2J,$B2C,ua-backprop:grouping=class:reference=black"
    for SPLIT in val test; do
      python -m unsure.cli.main bench groundtruth --run /work/runs/gt-paired/ens5 --split $SPLIT --n 300 --panel-n 0 \
        --methods "$V,random" --out docs/results/groundtruth-$SPLIT-screen
    done
    python -m unsure.cli.main bench blurring --run /work/runs/fmnist-ens5 --split val --n 100 --fractions 0.02,0.05 \
      --sigmas $S --methods "$(paste -sd, scripts/panel_methods_val.txt),$B2J,$B2C" --engine ray --workers 2 \
      --cpus-per-worker 1 --out docs/results/blurring-panel-val-fmnist-screen
    python -m unsure.cli.main bench blurring --run /work/runs/digits-ens5 --split val --n 100 \
      --methods "$(paste -sd, scripts/panel_methods_val.txt),$B2J,$B2C" --engine ray --workers 2 \
      --cpus-per-worker 1 --out docs/results/blurring-panel-val-digits-screen
    python scripts/groundtruth_vs_panel.py docs/results/groundtruth-val-screen/groundtruth.json \
      docs/results/blurring-panel-val-digits-screen/blurring.json docs/results/blurring-panel-val-fmnist-screen/blurring.json ;;
  panel-test-screen) # seventh session: the real-data panel on the TEST split (100 most epistemic images) for the
                 # default and the candidates of section 6's seventh-session paragraph (checked after the choice)
    python -m unsure.cli.main bench blurring --run /work/runs/fmnist-ens5 --n 100 --fractions 0.02,0.05 --sigmas $S \
      --methods "$DEFAULT,ua-backprop:grouping=joint:reference=mix,$B2J,ua-backprop:grouping=joint:reference=black,ua-backprop:grouping=joint:reference=blur@2" \
      --engine ray --workers 2 --cpus-per-worker 1 --out docs/results/blurring-panel-test-fmnist-screen ;;
  screen-posteriors) # seventh session: the default, the complete twins, the black+blur@2 mixture and the class-grouped
                 # setting on MC dropout, Laplace (the runs of paired-posteriors) and the colour ensemble; 150 VALIDATION
                 # base images each, the ground truth alone
    G="$DEFAULT,ua-backprop:grouping=joint:reference=black,ua-backprop:grouping=joint:reference=blur@2,$B2J,ua-backprop:grouping=joint:reference=mix,ua-backprop-class,random"
    for P in mc-dropout laplace; do
      python -m unsure.cli.main bench groundtruth --run docs/results/groundtruth-paired-$P/runs/$P-e6-s0-soft --split val \
        --n 150 --methods "$G" --panel-n 0 --out docs/results/groundtruth-val-screen-$P
      python scripts/groundtruth_vs_panel.py docs/results/groundtruth-val-screen-$P/groundtruth.json
    done
    python -m unsure.cli.main bench groundtruth --run /work/runs/gt-colour-paired/ens3 --split val --n 150 --methods "$G" \
      --panel-n 0 --out docs/results/groundtruth-val-screen-colour
    python scripts/groundtruth_vs_panel.py docs/results/groundtruth-val-screen-colour/groundtruth.json ;;
esac
