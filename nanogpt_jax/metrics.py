"""FLOPs and MFU, the device peak table, and where metrics go (console, metrics.jsonl, TensorBoard, wandb)."""
import json
import os

import jax

# Dense bf16 peak FLOP/s per chip, by substrings of jax's device_kind (first match wins).
PEAK_FLOPS = (
    ('H200', 989e12), ('H100 PCIe', 756e12), ('H100', 989e12), ('GH200', 989e12),
    ('A100', 312e12), ('L40S', 362e12), ('A10G', 125e12), ('L4', 121e12), ('V100', 125e12), ('T4', 65e12),
    ('TPU v6', 918e12), ('TPU v5 lite', 197e12), ('TPU v5e', 197e12), ('TPU v5', 459e12),
    ('TPU v4', 275e12), ('TPU v3', 123e12),
)


def peak_flops(device=None) -> float | None:
    """Dense bf16 peak of one device, or None where we do not know it (CPUs)."""
    kind = (device or jax.devices()[0]).device_kind
    return next((flops for name, flops in PEAK_FLOPS if name.lower() in kind.lower()), None)


def flops_per_token(model_cfg, num_params: int) -> float:
    """nanoGPT's estimate (PaLM appendix B): 6N for the matmuls, 12*L*H*Q*T for attention,
    N without position embeddings."""
    head_dim = model_cfg.n_embd // model_cfg.n_head
    return 6 * num_params + 12 * model_cfg.n_layer * model_cfg.n_head * head_dim * model_cfg.block_size


def mfu(tokens_per_sec: float, flops_token: float, num_devices: int | None = None) -> float | None:
    peak = peak_flops()
    if peak is None:
        return None
    return tokens_per_sec * flops_token / (peak * (num_devices or jax.device_count()))


class MetricsWriter:
    """One JSON object per logged step in out_dir/metrics.jsonl, plus TensorBoard / wandb when asked.
    Only process 0 writes."""

    def __init__(self, config, resume_step: int = 0):
        self.active = jax.process_index() == 0
        self.tb = self.wandb = None
        if not self.active:
            return
        path = os.path.join(config.out_dir, 'metrics.jsonl')
        if resume_step and os.path.exists(path):  # drop lines past the checkpoint we resume from
            with open(path) as f:
                kept = [line for line in f if json.loads(line).get('step', 0) <= resume_step]
            with open(path, 'w') as f:
                f.writelines(kept)
        self.file = open(path, 'a' if resume_step else 'w')
        if config.tensorboard_log:
            try:
                from tensorboardX import SummaryWriter
            except ImportError as e:
                raise ImportError('tensorboard_log=True needs tensorboardX: pip install "nanogpt_jax[tensorboard]"') from e
            self.tb = SummaryWriter(os.path.join(config.out_dir, 'tensorboard'))
        if config.wandb_log:
            try:
                import wandb
            except ImportError as e:
                raise ImportError('wandb_log=True needs wandb: pip install "nanogpt_jax[wandb]"') from e
            self.wandb = wandb
            wandb.init(project=config.wandb_project, name=config.wandb_run_name, config=config.to_dict(),
                       resume='allow')

    def write(self, record: dict) -> None:
        if not self.active:
            return
        self.file.write(json.dumps(record) + '\n')
        self.file.flush()
        step = record['step']
        if self.tb is not None:
            for key, value in record.items():
                if key != 'step' and value is not None:
                    self.tb.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if v is not None}, step=step)

    def close(self) -> None:
        if self.active:
            self.file.close()
            if self.tb is not None:
                self.tb.close()
            if self.wandb is not None:
                self.wandb.finish()
