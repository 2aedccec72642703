#!/usr/bin/env bash
# The shipped prior from scratch in one command. Resumable: after an interruption run it again;
# every training continues from its last checkpoint and finished ones are skipped.
#
#   bash experiments/shipped_prior.sh [RUNS_DIR] [DATA_DIR]
#
# Stages (steps; time on a 2-core CPU): P0, all times on the 200 CMU sequences (50,000; 3 h);
# P1 = P0 + 15,000 steps with EMA 0.9995 (45 min); P2's low expert = P1 + 15,000 steps at the
# loop's times (35 min); then both networks on the 200 sequences and the whole library, half of
# every batch from each: the high expert from P1 (all times, skeletons swapped; 3,000, 5 min),
# the low expert from P2's (skeletons swapped, joint conventions varied, loop times; 27,000,
# 47 min) and its closing anneal at dropout 0.1 (cosine decay, EMA 0.999; 10,000, 15 min).
# The result is RUNS_DIR/prior (lift with --checkpoint RUNS_DIR/prior). Numbers: BUILD_NOTES.md.
set -euo pipefail
R=${1:-runs/shipped}
D=${2:-../shared/data}
CMU=$D/cmu_h36m17.npz
ALL=$CMU,$D/cmu_full_h36m17.npz
HIGH_STEPS=${HIGH_STEPS:-3000}
LOW_STEPS=${LOW_STEPS:-27000}
ANNEAL_STEPS=${ANNEAL_STEPS:-10000}
train() { python -m launch.train "$@"; }
export_prior() { python -m launch.export_prior --weights both --overwrite "$@"; }

train --data "$CMU" --workdir "$R/p0" --config.steps=50000 \
    --config.model.hidden_dim=512 --config.model.embed_dim=256
train --data "$CMU" --workdir "$R/p1" --init_from "$R/p0" --config.steps=15000 \
    --config.ema_rate=0.9995
train --data "$CMU" --workdir "$R/p2_low" --init_from "$R/p1" --recipe loop_t90 \
    --config.steps=15000
export_prior --workdir "$R/p1" --output "$R/p1.prior"
export_prior --workdir "$R/p2_low" --output "$R/p2.prior" --default_weights ema \
    --high_expert "$R/p1.prior"

train --data "$ALL" --data_shares 1,1 --workdir "$R/high" --init_from "$R/p2.prior" \
    --init_expert high --recipe swap --config.steps="$HIGH_STEPS" --config.warmup_steps=1000
train --data "$ALL" --data_shares 1,1 --workdir "$R/low" --init_from "$R/p2.prior" \
    --init_expert low --recipe swap_convention_loop_t90 --config.steps="$LOW_STEPS" \
    --config.warmup_steps=1000
train --data "$ALL" --data_shares 1,1 --workdir "$R/anneal" --init_from "$R/low" \
    --recipe swap_convention_loop_t90 --config.steps="$ANNEAL_STEPS" --config.warmup_steps=200 \
    --config.decay=cosine --config.ema_rate=0.999 --config.model.dropout=0.1
export_prior --workdir "$R/high" --output "$R/high.prior"
export_prior --workdir "$R/anneal" --output "$R/prior" --default_weights ema \
    --high_expert "$R/high.prior" --split_t 0.1
python -m launch.compute_clusters --data "$ALL" --data_shares 1,1 --prior "$R/prior" --S 1 --S 50
