"""The benchmark runner's own arithmetic, and its load generator against a real sandbox.

`docs/benchmarks.md` is only as good as the code that makes its figures: a percentile off
by one rank, a median taken over the wrong rounds or a flow that silently stopped working
against the sandbox would all still print a table.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import cpu_split  # noqa: E402
import loadgen  # noqa: E402
import run_benchmarks  # noqa: E402


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50.0
    assert loadgen.percentile(values, 99) == 99.0
    assert loadgen.percentile(values, 100) == 100.0
    assert loadgen.percentile(values, 0) == 1.0
    assert loadgen.percentile([7.0], 99) == 7.0
    assert math.isnan(loadgen.percentile([], 50))


def _round(ops_per_s: float, latencies: list[float]) -> dict:
    return {"server": "s", "flow": "client_credentials", "concurrency": 2, "seconds": 1.0,
            "ops": len(latencies), "ops_per_s": ops_per_s, "errors": 0, "error_samples": [],
            "client_cpu_pct": 10.0, "hit_op_cap": False, "server_cpu_s": 0.5,
            "latencies": latencies, "steps": []}


def test_rounds_merge_into_the_median_throughput_and_pooled_latencies():
    rounds = [_round(100.0, [0.001] * 99 + [0.100]),
              _round(300.0, [0.002] * 100),
              _round(200.0, [0.003] * 100)]
    cell = run_benchmarks.merge_rounds(rounds, duration=1.0, warmup=0.0, note="")
    assert cell["ops_per_s"] == 200.0  # the median round (here it equals the mean: the skewed case tells them apart)
    assert cell["ops_per_s_rounds"] == [100.0, 300.0, 200.0]
    assert cell["ops"] == 300 and cell["rounds"] == 3
    assert cell["p50_ms"] == pytest.approx(2.0)
    assert cell["p99_ms"] == pytest.approx(3.0)  # one slow request in 300 is under the 99th percentile
    assert cell["max_ms"] == pytest.approx(100.0)
    assert cell["server_cpu_us_per_op"] == pytest.approx(1e6 * 1.5 / 300)

    skewed = run_benchmarks.merge_rounds([_round(100.0, [0.001]), _round(110.0, [0.001]),
                                          _round(900.0, [0.001])], duration=1.0, warmup=0.0, note="")
    assert skewed["ops_per_s"] == 110.0  # one fast round does not pull the figure up


def test_the_reproduce_command_leaves_out_where_a_json_copy_went():
    argv = ["--json", "/tmp/figures.json", "--rounds", "3", "--json=/tmp/other.json", "--skip-browser"]
    assert run_benchmarks.reproducible_args(argv) == ["--rounds", "3", "--skip-browser"]


PERF_REPORT = """\
# Samples: 3K of event 'cpu-clock:ppp'
#
    40.00%  _rust.abi3.so                              [.] __bn_sqrx8x_reduction
    20.00%  _rust.abi3.so                              [.] mulx4x_internal
    15.00%  libpython3.11.so.1.0                       [.] _PyEval_EvalFrameDefault
     8.00%  [kernel.kallsyms]                          [k] finish_task_switch.isra.0
     5.00%  node                                       [.] Builtins_JSONStringify
     4.00%  _sqlite3.cpython-311-x86_64-linux-gnu.so   [.] sqlite3VdbeExec
     2.00%  libsqlite3.so.0.8.6                        [.] sqlite3BtreeInsert
     6.00%  libc.so.6                                  [.] __memmove_avx_unaligned_erms
"""


def test_perf_samples_are_grouped_by_where_they_landed():
    shares = cpu_split.parse_report(PERF_REPORT)
    assert shares["rsa"] == pytest.approx(0.60)
    assert shares["interpreter"] == pytest.approx(0.20)
    assert shares["kernel"] == pytest.approx(0.08)
    assert shares["database"] == pytest.approx(0.06)
    assert shares["other"] == pytest.approx(0.06)
    assert set(shares) == {name for name, _ in cpu_split.GROUPS}


@pytest.mark.parametrize("flow", ["client_credentials", "refresh", "roundtrip"])
def test_the_load_generator_completes_every_flow_against_the_sandbox(tmp_path, flow):
    with run_benchmarks.Sandbox(tmp_path / "state", tmp_path / "sandbox.log", 1) as sandbox:
        target = sandbox.target("sandbox")
        if flow == "refresh":
            loadgen.prepare_refresh_token(target)
        cell = loadgen.run_cell(target, flow, concurrency=2, duration=0.4, warmup=0.1, keep=True)
    assert cell["errors"] == 0, cell["error_samples"]
    assert cell["ops"] >= 2
    assert len(cell["latencies"]) == cell["ops"]
    assert 0 < cell["p50_ms"] <= cell["p99_ms"] <= cell["max_ms"]
    if flow == "roundtrip":
        assert 0 < cell["exchange_p50_ms"] <= cell["p99_ms"]
