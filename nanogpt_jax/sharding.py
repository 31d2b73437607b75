"""One device mesh for every run, and the one table that says how arrays lie on it.

Each parameter names its logical axes in model.py (`axes=('embed', 'mlp')`); RULES maps each
logical axis to mesh axes. A single CPU is a 1x1x1 mesh, 8 GPUs data-parallel are 8x1x1; FSDP
(ZeRO-3) and Megatron tensor parallelism are other mesh sizes, nothing else.
"""
import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

MESH_AXES = ('data', 'fsdp', 'tensor')

# logical axis -> mesh axis (or axes). Axes not listed are replicated.
RULES = {
    'batch': ('data', 'fsdp'),  # the batch is split over every data-parallel axis
    'embed': 'fsdp',  # FSDP: every weight is split along its model dimension
    'vocab': 'tensor',  # tensor parallel: vocab, heads and MLP hidden units
    'heads': 'tensor',
    'mlp': 'tensor',
}


def mesh_shape(config, num_devices: int) -> tuple[int, ...]:
    """Resolve mesh sizes from the config; one -1 takes the devices the other axes leave."""
    sizes = [config.mesh_data, config.mesh_fsdp, config.mesh_tensor]
    described = ', '.join(f'mesh_{n}={s}' for n, s in zip(MESH_AXES, sizes))
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f'Mesh sizes {described}: use positive sizes and at most one -1.')
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if num_devices % known:
            raise ValueError(f'Mesh sizes {described} do not divide the {num_devices} devices.')
        sizes[sizes.index(-1)] = num_devices // known
    if int(np.prod(sizes)) != num_devices:
        raise ValueError(f'Mesh sizes {described} make a mesh of {int(np.prod(sizes))} devices, '
                         f'but there are {num_devices}: make their product {num_devices}, or set one to -1.')
    return tuple(sizes)


def make_mesh(config) -> Mesh:
    shape = mesh_shape(config, jax.device_count())
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def logical_to_spec(axes) -> P:
    return P(*(RULES.get(a) if a else None for a in axes))


def axis_size(mesh: Mesh, mesh_axes) -> int:
    if mesh_axes is None:
        return 1
    names = (mesh_axes,) if isinstance(mesh_axes, str) else mesh_axes
    return int(np.prod([mesh.shape[n] for n in names]))


def constrain(x, logical_axes):
    """Pin an activation's layout by RULES (the residual stream: rows split over data x fsdp, the
    rest whole), on the mesh x's inputs live on. Without it XLA may keep FSDP activations split along
    the model dimension for whole batches. A no-op on one device, off a mesh, or where a dimension
    does not divide (sampling one row)."""
    mesh = getattr(getattr(jax.typeof(x), 'sharding', None), 'mesh', None)
    if mesh is None or mesh.empty or mesh.size == 1:
        return x
    spec = logical_to_spec(logical_axes)
    if any(dim % axis_size(mesh, mesh_axes) for dim, mesh_axes in zip(x.shape, spec)):
        return x
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def param_shardings(abstract_state: nnx.State, mesh: Mesh) -> dict:
    """A NamedSharding per parameter (same nesting as the params), checked for divisibility."""

    def one(path, var):
        spec = logical_to_spec(var.get_metadata()['axes'])
        for dim, mesh_axes in zip(var.shape, spec):
            if dim % axis_size(mesh, mesh_axes):
                raise ValueError(f'Parameter {"/".join(map(str, path))} of shape {var.shape}: dimension {dim} '
                                 f'is not divisible by mesh axis {mesh_axes} of size {axis_size(mesh, mesh_axes)}. '
                                 f'Choose model sizes divisible by it, or a smaller mesh_fsdp / mesh_tensor.')
        return NamedSharding(mesh, spec)

    def walk(state, path):
        return {k: one(path + (k,), v) if isinstance(v, nnx.Variable) else walk(v, path + (k,))
                for k, v in state.items()}

    return walk(abstract_state, ())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """(micro-batches or eval batches, batch, T) token arrays: batch rows split over the data-parallel axes."""
    return NamedSharding(mesh, P(None, RULES['batch'], None))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def check_batch(batch_size: int, mesh: Mesh, grad_accum: int) -> None:
    shards = axis_size(mesh, RULES['batch'])
    if batch_size % shards:
        for scale in range(2, shards + 1):  # suggest keeping the tokens per step
            if (batch_size * scale) % shards == 0 and grad_accum % scale == 0:
                hint = (f' To keep the tokens per step, set batch_size={batch_size * scale} '
                        f'gradient_accumulation_steps={grad_accum // scale}.')
                break
        else:
            hint = f' Use a batch_size that is a multiple of {shards}.'
        raise ValueError(f'batch_size={batch_size} (the global micro-batch) is not divisible by the '
                         f'{shards} batch shards (mesh data x fsdp = {mesh.shape["data"]} x {mesh.shape["fsdp"]}).{hint}')


def process_rows(mesh: Mesh, batch_size: int) -> np.ndarray:
    """The rows of every global batch this process loads: those its devices hold, in the order
    jax.make_array_from_process_local_data lays them out (all rows when the batch is not split
    across processes, e.g. a tensor axis spanning hosts)."""
    index_map = NamedSharding(mesh, P(RULES['batch'])).addressable_devices_indices_map((batch_size,))
    starts = sorted({index[0].start or 0 for index in index_map.values()})
    per_shard = batch_size // axis_size(mesh, RULES['batch'])
    return np.concatenate([np.arange(start, start + per_shard) for start in starts])


def model_layout(model_cfg, mesh: Mesh):
    """The model's graphdef, and abstract params (shape, dtype, sharding) laid out by RULES,
    without allocating anything."""
    from nanogpt_jax.model import GPT
    tensor = axis_size(mesh, RULES['heads'])
    if model_cfg.n_head % tensor:
        raise ValueError(f'n_head={model_cfg.n_head} is not divisible by the tensor-parallel mesh axis of size {tensor} '
                         f'(mesh_tensor): tensor parallelism gives each device whole attention heads. Choose n_head '
                         f'as a multiple of it, or a mesh_tensor that divides {model_cfg.n_head}.')
    graphdef, state = nnx.split(nnx.eval_shape(lambda: GPT(model_cfg, nnx.Rngs(0))))
    shardings = param_shardings(state, mesh)
    abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                            nnx.to_pure_dict(state), shardings)
    return graphdef, abstract


def shardings_of(abstract_tree):
    return jax.tree.map(lambda a: a.sharding, abstract_tree)


def opt_state_layout(tx, abstract_params, mesh: Mesh):
    """Abstract optimizer state: moments mirror the params' layout, scalars are replicated."""
    param_struct = jax.tree.structure(abstract_params)
    abstract = jax.eval_shape(tx.init, abstract_params)
    return jax.tree.map(
        lambda sub: abstract_params if jax.tree.structure(sub) == param_struct
        else jax.ShapeDtypeStruct(sub.shape, sub.dtype, sharding=replicated(mesh)),
        abstract, is_leaf=lambda sub: jax.tree.structure(sub) == param_struct or hasattr(sub, 'shape'))
