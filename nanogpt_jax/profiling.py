"""What a compiled step costs, as XLA sees it, and what a profiler trace says took the time.

    python -m nanogpt_jax.profiling top_ops out/profile [--n=25]

train.py and bench.py print `compiled_summary` once the train step is compiled: the memory XLA planned
(arguments, outputs, temporaries, generated code) and XLA's FLOP count next to our analytic one, and
`dump_hlo` writes the optimised HLO. `top_ops` sums a jax.profiler trace's device time per op.
The compiled-step queries are debugging APIs whose shapes change across jax versions (a dict, a list
of dicts, None, or NotImplementedError): everything here degrades to None rather than failing a run.
"""
import argparse
import collections
import glob
import gzip
import json
import os

import jax

MB = 1024 ** 2


def cost_analysis(compiled) -> dict:
    """compiled.cost_analysis() as one dict ({} where unavailable). Older jax returned a list with one
    dict per program; those are summed."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # NotImplementedError on some backends, runtime errors on others
        return {}
    if cost is None:
        return {}
    if isinstance(cost, dict):
        return cost
    total = collections.defaultdict(float)
    for part in cost:
        for key, value in (part or {}).items():
            if isinstance(value, (int, float)):
                total[key] += value
    return dict(total)


def memory_analysis(compiled) -> dict | None:
    """Bytes XLA planned for one call of the executable, per device: arguments, outputs, aliased
    (donated inputs reused as outputs), temporaries, generated code, XLA's own peak where reported, and
    total = arguments + outputs - alias + temporaries + code; None where unavailable."""
    try:
        stats = compiled.memory_analysis()
    except Exception:
        return None
    if stats is None:
        return None
    if isinstance(stats, (list, tuple)):  # one per program in some versions: take the first
        stats = stats[0] if stats else None
        if stats is None:
            return None
    fields = dict(arguments='argument_size_in_bytes', outputs='output_size_in_bytes', alias='alias_size_in_bytes',
                  temporaries='temp_size_in_bytes', generated_code='generated_code_size_in_bytes',
                  peak='peak_memory_in_bytes')
    out = {name: getattr(stats, attr, None) for name, attr in fields.items()}
    out = {k: int(v) for k, v in out.items() if v is not None}
    if 'arguments' in out:  # everything the step holds at once, at most (donated inputs counted once)
        out['total'] = (out['arguments'] + out.get('outputs', 0) - out.get('alias', 0) + out.get('temporaries', 0)
                        + out.get('generated_code', 0))
    return out or None


def compiled_report(compiled, analytic_flops: float | None = None) -> dict:
    """Memory (bytes) and FLOPs of a compiled step, per device; analytic_flops is our count for the same
    work on one device. XLA counts a while/scan body once however many times it runs, and may count no
    FLOPs in custom calls (cuDNN attention), so it reads low with gradient accumulation, maybe on GPU."""
    cost = cost_analysis(compiled)
    flops = cost.get('flops')
    return dict(memory=memory_analysis(compiled), xla_flops=flops, analytic_flops=analytic_flops,
                xla_bytes_accessed=cost.get('bytes accessed'),
                xla_vs_analytic=(flops / analytic_flops) if flops and analytic_flops else None)


def compiled_summary(compiled, analytic_flops: float | None = None) -> str:
    """Two lines for the console: the memory plan in MB, and XLA FLOPs next to ours."""
    report = compiled_report(compiled, analytic_flops)
    memory = report['memory']
    if memory:
        parts = ', '.join(f'{k.replace("_", " ")} {v / MB:,.1f}' for k, v in memory.items())
        mem_line = f'compiled step memory per device (MB): {parts}'
    else:
        mem_line = 'compiled step memory: not reported by this backend'
    tflops = lambda f: f'{f / 1e12:.4g} TFLOP' if f else 'n/a'
    ratio = f' (XLA/analytic {report["xla_vs_analytic"]:.3f})' if report['xla_vs_analytic'] else ''
    flops_line = (f'FLOPs per step per device: XLA cost analysis {tflops(report["xla_flops"])}, '
                  f'analytic 6N+12LHQT {tflops(analytic_flops)}{ratio}')
    return mem_line + '\n' + flops_line


def dump_hlo(compiled, out_dir: str, name: str = 'train_step') -> str | None:
    """Write the optimised (post-XLA-passes) HLO text to out_dir/<name>.hlo.txt; returns the path."""
    text = compiled.as_text()
    if text is None:
        return None
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f'{name}.hlo.txt')
    with open(path, 'w') as f:
        f.write(text)
    return path


def peak_memory(device=None) -> int | None:
    """Peak bytes the allocator has held on a device since start (GPU/TPU); None on CPU."""
    try:
        stats = (device or jax.local_devices()[0]).memory_stats()
    except Exception:
        return None
    return int(stats['peak_bytes_in_use']) if stats and 'peak_bytes_in_use' in stats else None


# ----------------------------------------------------------------------------- traces
def latest_trace(profile_dir: str) -> str | None:
    """The newest *.trace.json.gz that jax.profiler wrote under profile_dir/plugins/profile/<run>/."""
    paths = glob.glob(os.path.join(profile_dir, '**', '*.trace.json.gz'), recursive=True)
    paths = [p for p in paths if not os.path.basename(p).startswith('perfetto_trace')]
    return max(paths, key=os.path.getmtime) if paths else None


def top_ops(profile_dir: str, n: int = 25) -> tuple[list[dict], float]:
    """The n ops with the most device time in the latest trace, and the total device time (ms).

    Device processes are those named /device:GPU:k (or TPU); their derived lines ('XLA Modules',
    'Steps', ...) would count the same time twice, so when an 'XLA Ops' line exists only it is used,
    else the kernel streams. Ops are grouped by their HLO op name where the event carries one.
    Without device processes (CPU) the host's XLA threads are summed instead."""
    path = latest_trace(profile_dir)
    if path is None:
        return [], 0.0
    with gzip.open(path, 'rt') as f:
        events = json.load(f)['traceEvents']
    process, thread = {}, {}
    for e in events:
        if e.get('ph') == 'M' and e.get('name') == 'process_name':
            process[e['pid']] = e['args']['name']
        elif e.get('ph') == 'M' and e.get('name') == 'thread_name':
            thread[(e['pid'], e['tid'])] = e['args']['name']
    device_pids = {p for p, name in process.items() if '/device:' in name}
    op_lines = {k for k, name in thread.items() if k[0] in device_pids and name == 'XLA Ops'}
    derived = ('XLA Modules', 'Steps', 'Framework', 'Source', 'TensorFlow', 'XLA TraceMe', 'Launch Stats')

    def counted(e):
        key = (e.get('pid'), e.get('tid'))
        if device_pids:
            if op_lines:
                return key in op_lines
            return e.get('pid') in device_pids and not thread.get(key, '').startswith(derived)
        return thread.get(key, '').startswith('tf_XLA') and '::' not in e['name']  # CPU: XLA's thunks

    time_us, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get('ph') == 'X' and counted(e):
            args = e.get('args') or {}
            name = args.get('hlo_op') or args.get('long_name', '').split(' ')[0] or e['name']
            time_us[name] += e.get('dur', 0.0)
            count[name] += 1
    total = sum(time_us.values())
    rows = [dict(op=name, ms=t / 1e3, count=count[name], percent=100 * t / total if total else 0.0)
            for name, t in time_us.most_common(n)]
    return rows, total / 1e3


def top_ops_table(profile_dir: str, n: int = 25) -> str:
    rows, total_ms = top_ops(profile_dir, n)
    if not rows:
        return f'no trace found under {profile_dir}'
    lines = [f'top {len(rows)} ops by device time in {latest_trace(profile_dir)} (total {total_ms:,.2f} ms):',
             f'{"ms":>10} {"%":>6} {"count":>6}  op']
    lines += [f'{r["ms"]:10.3f} {r["percent"]:6.2f} {r["count"]:6d}  {r["op"]}' for r in rows]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Summarise a jax.profiler trace: device time per op.')
    parser.add_argument('command', choices=['top_ops'])
    parser.add_argument('profile_dir', help='the directory given to jax.profiler.start_trace (out_dir/profile)')
    parser.add_argument('--n', type=int, default=25, help='how many ops to list')
    args = parser.parse_args(argv)
    print(top_ops_table(args.profile_dir, args.n))


if __name__ == '__main__':
    main()
