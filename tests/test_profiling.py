"""Profiling options of train.py (profile_steps, dump_hlo, the compiled-step report) and profiling.py."""
import gzip
import json

import pytest

from conftest import run_module, train
from nanogpt_jax import profiling


@pytest.fixture(scope='module')
def profiled_run(data_root, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('profiled')
    proc = train(data_root, out_dir, max_iters=8, profile_steps=2, dump_hlo=True)
    return out_dir, proc.stdout + proc.stderr


def test_profile_steps_write_a_trace(profiled_run):
    out_dir, log = profiled_run
    assert list((out_dir / 'profile').rglob('*.xplane.pb')), 'no xplane trace under out_dir/profile'
    assert list((out_dir / 'profile').rglob('perfetto_trace.json.gz'))
    assert f'wrote a profile of 2 steps to {out_dir}/profile' in log


def test_dump_hlo_and_the_compiled_step_report(profiled_run):
    out_dir, log = profiled_run
    assert 'HloModule' in (out_dir / 'train_step.hlo.txt').read_text()
    assert 'compiled step memory per device (MB): arguments' in log and 'temporaries' in log
    assert 'FLOPs per step per device: XLA cost analysis' in log and 'analytic 6N+12LHQT' in log


def test_top_ops_reads_the_trace(profiled_run):
    out_dir, _ = profiled_run
    rows, total_ms = profiling.top_ops(str(out_dir / 'profile'), n=5)
    assert 0 < len(rows) <= 5 and total_ms > 0
    assert rows == sorted(rows, key=lambda r: -r['ms'])
    stdout = run_module('profiling', 'top_ops', str(out_dir / 'profile'), '--n=3').stdout
    assert 'top 3 ops by device time' in stdout


def test_top_ops_on_a_gpu_trace_counts_each_kernel_once(tmp_path):
    """A trace shaped like a GPU one: kernels on a stream, and a derived line that repeats their time."""
    meta = lambda pid, tid, kind, name: dict(ph='M', pid=pid, tid=tid, name=kind, args=dict(name=name))
    kernel = lambda name, dur, op: dict(ph='X', pid=2, tid=7, ts=0, dur=dur, name=name, args=dict(hlo_op=op))
    events = [meta(1, 0, 'process_name', '/host:CPU'), meta(2, 0, 'process_name', '/device:GPU:0'),
              meta(2, 7, 'thread_name', 'Stream #7(Compute)'), meta(2, 8, 'thread_name', 'XLA Modules'),
              kernel('gemm_a', 300.0, 'dot.1'), kernel('gemm_a', 300.0, 'dot.1'), kernel('loop_fusion', 400.0, 'fusion.2'),
              dict(ph='X', pid=2, tid=8, ts=0, dur=1000.0, name='jit_train_step'),
              dict(ph='X', pid=1, tid=1, ts=0, dur=5000.0, name='host work')]
    run = tmp_path / 'plugins' / 'profile' / 'run1'
    run.mkdir(parents=True)
    with gzip.open(run / 'host.trace.json.gz', 'wt') as f:
        json.dump(dict(traceEvents=events), f)
    rows, total_ms = profiling.top_ops(str(tmp_path))
    assert total_ms == pytest.approx(1.0)
    assert [(r['op'], r['count']) for r in rows] == [('dot.1', 2), ('fusion.2', 1)]
    assert rows[0]['percent'] == pytest.approx(60.0)


class FakeCompiled:
    def __init__(self, cost=None, memory=None, error=None):
        self.cost, self.memory, self.error = cost, memory, error

    def cost_analysis(self):
        if self.error:
            raise self.error
        return self.cost

    def memory_analysis(self):
        if self.error:
            raise self.error
        return self.memory


@pytest.mark.parametrize('cost, flops', [
    ({'flops': 6.0, 'bytes accessed': 2.0}, 6.0),  # jax >= 0.4.30: one dict
    ([{'flops': 4.0}, {'flops': 2.0}], 6.0),  # older jax: a list of dicts, one per program
    ([], None), (None, None),
])
def test_cost_analysis_of_every_shape(cost, flops):
    report = profiling.compiled_report(FakeCompiled(cost=cost), analytic_flops=3.0)
    assert report['xla_flops'] == flops
    assert report['xla_vs_analytic'] == (2.0 if flops else None)
    assert 'FLOPs per step per device' in profiling.compiled_summary(FakeCompiled(cost=cost), 3.0)


def test_unavailable_analyses_do_not_fail():
    fake = FakeCompiled(error=NotImplementedError('not on this backend'))
    assert profiling.compiled_report(fake) == dict(memory=None, xla_flops=None, analytic_flops=None,
                                                   xla_bytes_accessed=None, xla_vs_analytic=None)
    assert 'not reported' in profiling.compiled_summary(fake)
