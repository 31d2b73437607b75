"""Join a multi-process run (several hosts, or one process per GPU) before any device is touched.

jax.distributed.initialize finds SLURM and Cloud TPU pods by itself; elsewhere the coordinator's
address, the number of processes and this process's id come from the config or from
JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID. A single process needs nothing.
"""
import os

import jax


def initialize(config=None) -> None:
    if jax.distributed.is_initialized():
        return
    address = (config.coordinator_address if config else '') or os.environ.get('JAX_COORDINATOR_ADDRESS', '')
    count = (config.num_processes if config else 0) or int(os.environ.get('JAX_NUM_PROCESSES', 0))
    pid = config.process_id if config and config.process_id >= 0 else int(os.environ.get('JAX_PROCESS_ID', -1))
    if address or count > 1:
        if not address or count < 1 or pid < 0:
            raise ValueError(f'A multi-process run needs coordinator_address, num_processes and process_id '
                             f'(got {address!r}, {count}, {pid}): set all three in the config or as '
                             f'JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID.')
        jax.distributed.initialize(address, num_processes=count, process_id=pid)
    elif int(os.environ.get('SLURM_NTASKS', '1')) > 1 or os.environ.get('TPU_WORKER_HOSTNAMES', '').count(','):
        jax.distributed.initialize()  # auto-detected cluster
