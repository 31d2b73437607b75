#!/bin/bash
# Train nanogpt_jax on a Cloud TPU pod slice (several TPU VM hosts): the same command runs on every worker.
#
#   export TPU_NAME=my-v4-32 ZONE=us-central2-b          # an existing TPU VM slice (gcloud compute tpus tpu-vm create)
#   scripts/tpu_pod.sh setup                             # clone + pip install -e ".[tpu]" on every worker
#   scripts/tpu_pod.sh prepare shakespeare_char          # python data/<dataset>/prepare.py on every worker
#   scripts/tpu_pod.sh train --config=configs/shakespeare_char.py --config.out_dir=/mnt/shared/run1
#
# `train` passes its arguments to `python -m nanogpt_jax.train`, adding --config.coordinator_address=auto:
# jax.distributed.initialize() then finds the slice's workers, their ids and the coordinator by itself.
# Every worker reads only its own rows of each batch from its own copy of the prepared data (prepare writes
# the same files everywhere; for large corpora, prepare once onto a disk all workers mount instead).
# out_dir must be on storage every worker sees at the same path (a Filestore/NFS share, or a gcsfuse
# mount of a bucket): orbax checkpoints are written by all workers together. Logs come from worker 0.
# The run stops when the ssh session ends: run this from tmux/screen, or wrap the command in nohup.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME to the TPU VM slice}" "${ZONE:?set ZONE to its zone}"
REPO_URL=${REPO_URL:-https://github.com/OWNER/nanogpt_jax.git}  # your fork or mirror
BRANCH=${BRANCH:-main}
DIR=${DIR:-nanogpt_jax}  # where the repo lives on each worker (relative to the home directory)

on_all_workers() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$1"
}

action=${1:-}
shift || true
args=$(printf ' %q' "$@")
case "$action" in
  setup)
    on_all_workers "set -e; [ -d $DIR ] || git clone -q $REPO_URL $DIR; cd $DIR && git fetch -q origin \
      && git checkout -q $BRANCH && git pull -q --ff-only && python3 -m pip install -q -e '.[tpu]'"
    ;;
  prepare)
    on_all_workers "set -e; cd $DIR && python3 data/${1:?which dataset, e.g. shakespeare_char}/prepare.py"
    ;;
  train)
    on_all_workers "set -e; cd $DIR && PYTHONUNBUFFERED=1 python3 -m nanogpt_jax.train$args --config.coordinator_address=auto"
    ;;
  *)
    echo "usage: $0 setup | prepare DATASET | train [--config=... --config.key=value ...]" >&2
    exit 2
    ;;
esac
