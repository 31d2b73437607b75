"""Join a multi-process run (several hosts, or one process per GPU) before any device is touched.

Three ways, the first that applies:
- explicit: coordinator_address (host:port of process 0), num_processes and process_id, from the
  config or from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID;
- coordinator_address='auto': let jax.distributed.initialize find the cluster by itself (Cloud TPU
  pod slices, SLURM, Open MPI); scripts/tpu_pod.sh uses it;
- a SLURM job step of several tasks (srun), or a multi-host TPU slice on GKE, is found without asking.
A single process needs nothing (a Colab TPU or GPU, one GPU, a node of GPUs driven by one process).
"""
import os

import jax


def initialize(config=None) -> None:
    if jax.distributed.is_initialized():
        return
    address = (config.coordinator_address if config else '') or os.environ.get('JAX_COORDINATOR_ADDRESS', '')
    count = (config.num_processes if config else 0) or int(os.environ.get('JAX_NUM_PROCESSES', 0))
    pid = config.process_id if config and config.process_id >= 0 else int(os.environ.get('JAX_PROCESS_ID', -1))
    if address == 'auto':
        try:
            jax.distributed.initialize()
        except ValueError as e:  # outside a cluster jax finds, it says only what is missing
            raise ValueError(f"coordinator_address='auto' found no cluster to join ({e}): it works on Cloud TPU "
                             f"pod slices, SLURM job steps and Open MPI. Elsewhere give coordinator_address=host:port "
                             f"of process 0, num_processes and process_id.") from e
    elif address or count > 1:
        if not address or count < 1 or not 0 <= pid < count:
            raise ValueError(f'A multi-process run needs coordinator_address, num_processes and process_id '
                             f'(got {address!r}, {count}, {pid}): set all three in the config or as '
                             f'JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID, with 0 <= process_id '
                             f'< num_processes and the same address (host:port of process 0) everywhere. '
                             f"On a TPU pod slice use coordinator_address='auto'.")
        jax.distributed.initialize(address, num_processes=count, process_id=pid)
    elif ((int(os.environ.get('SLURM_NTASKS', '1')) > 1 and 'SLURM_STEP_NODELIST' in os.environ)
          or os.environ.get('TPU_WORKER_HOSTNAMES', '').count(',')):
        jax.distributed.initialize()  # a SLURM job step (srun) or a GKE TPU slice: jax reads their variables
