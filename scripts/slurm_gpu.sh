#!/bin/bash
# Train nanogpt_jax on a SLURM GPU cluster: one process per GPU, on every node of the job.
#
#   sbatch scripts/slurm_gpu.sh --config=configs/gpt2.py                        # 1 node x 8 GPUs
#   sbatch --nodes=4 scripts/slurm_gpu.sh --config=configs/gpt2.py \
#          --config.batch_size=96 --config.gradient_accumulation_steps=5 --config.mesh_fsdp=8
#
# Arguments are passed to `python -m nanogpt_jax.train` unchanged: the same command as on one GPU.
# srun starts the tasks; nanogpt_jax.distributed sees a SLURM step of several tasks and calls
# jax.distributed.initialize(), which reads SLURM_* itself: the coordinator is the first node
# (port from the job id, or JAX_COORDINATOR_PORT), the process id is SLURM_PROCID, and task i of a node
# takes GPU i (SLURM_LOCALID). So every task must see all of its node's GPUs: ask for --gpus-per-node,
# not --gpus-per-task.
#
# One process per node instead (jax then drives the node's 8 GPUs from one process):
#   --ntasks-per-node=1 and `export JAX_LOCAL_DEVICE_IDS=0,1,2,3,4,5,6,7` below (else it takes GPU 0 only).
#
# Before submitting: install on the cluster (`pip install -e ".[cuda]"` in a venv every node can read),
# prepare the data (python data/openwebtext/prepare.py) where every node can read it, and keep out_dir
# on a shared filesystem: orbax checkpoints are written by all processes together, and resumed the same way
# (same command plus --config.init_from=resume). Logs and metrics come from process 0, in this job's output.
#
#SBATCH --job-name=nanogpt_jax
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail

cd "${SLURM_SUBMIT_DIR:-.}"
VENV=${VENV:-.venv}  # the virtual environment holding nanogpt_jax and jax[cuda12]
if [ -f "$VENV/bin/activate" ]; then source "$VENV/bin/activate"; fi
export PYTHONUNBUFFERED=1

echo "job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES node(s) ($SLURM_JOB_NODELIST), $SLURM_NTASKS processes"
# --kill-on-bad-exit: if one process dies, stop the rest instead of leaving them waiting in a collective.
srun --kill-on-bad-exit=1 python -m nanogpt_jax.train "$@"
