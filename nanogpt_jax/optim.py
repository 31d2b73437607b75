"""AdamW as nanoGPT configures it: decay on matrices only, clipping, warmup then cosine to min_lr."""
import jax
import jax.numpy as jnp
import optax


def lr_schedule(config):
    """nanoGPT's get_lr: linear warmup, cosine decay to min_lr at lr_decay_iters, then min_lr."""
    lr, min_lr, warmup = config.learning_rate, config.min_lr, config.warmup_iters
    decay_span = max(config.lr_decay_iters - warmup, 1)

    def schedule(it):
        if not config.decay_lr:
            return jnp.asarray(lr, jnp.float32)
        warm = lr * (it + 1) / (warmup + 1)
        ratio = jnp.clip((it - warmup) / decay_span, 0.0, 1.0)
        cosine = min_lr + 0.5 * (1.0 + jnp.cos(jnp.pi * ratio)) * (lr - min_lr)
        return jnp.where(it < warmup, warm, cosine)

    return schedule


def decay_mask(params):
    """Weight decay on matmul weights and embeddings (nanoGPT: every tensor of 2 or more dims);
    none on biases (ours for q/k/v is (3, n_embd)) and LayerNorm scales."""
    return jax.tree_util.tree_map_with_path(lambda path, p: p.ndim >= 2 and path[-1].key != 'bias', params)


def make_optimizer(config) -> optax.GradientTransformation:
    adamw = optax.adamw(lr_schedule(config), b1=config.beta1, b2=config.beta2, eps=1e-8,
                        weight_decay=config.weight_decay, mask=decay_mask)
    if config.grad_clip > 0:
        return optax.chain(optax.clip_by_global_norm(config.grad_clip), adamw)
    return adamw
