# Shared by the scripts/gpu_*.sh measurement scripts (source it; it reads OUT, DEADLINE, ONLY, SMOKE):
#   step NAME LIMIT_S CMD...   run CMD under a timeout, log it to $OUT/bench.log, keep its JSON line in results.jsonl
#   setup_env                  install the carried wheels (.whl/), print the versions and the GPU
#   stamped FILE STOP CMD...   run CMD, writing its output to FILE with seconds since the start on every line;
#                              stop it at the first line matching the regex STOP (empty: run to the end)
#   nanogpt_wall FILE STOP     the same for nanoGPT's shakespeare_char run ($NANOGPT, $TEXT)
#   keep_walls REGEX           the wall_*.log lines matching REGEX into the log, the logs into $OUT/walls.tgz
#   keep_profile DIR NAME      DIR's trace (DIR/profile, from --profile_steps) and *.hlo.txt (--dump_hlo) into
#                              $OUT/NAME.tgz, its top ops appended to $OUT/top_ops.txt
#   pkg NAME                   PKG=(a command prefix that runs the package copy .whl/pkg_NAME from its own folder)
#   summarize                  the results.jsonl rows as a table, into $OUT/summary.txt
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out-gpu-bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/bench.log
RESULTS=$OUT/results.jsonl
DEADLINE=${DEADLINE:-530}
TMP=$(mktemp -d)
SMOKE_BENCH=() SMOKE_TRAIN=()
if [ -n "${SMOKE:-}" ]; then  # later flags win: these override each run's sizes
  SMOKE_BENCH=(--model=tiny --attention=xla --dtype=float32 --block_size=64 --vocab_size=256 --batch_size=4 --new_tokens=20 --steps=2 --warmup=1)
  SMOKE_TRAIN=(--config.n_layer=2 --config.n_head=2 --config.n_embd=32 --config.block_size=64 --config.batch_size=4
               --config.max_iters=30 --config.eval_interval=10 --config.eval_iters=2 --config.log_interval=5)
fi
: > "$LOG"; : > "$RESULTS"
B="python3 -m nanogpt_jax.bench"

say() { echo "$*" | tee -a "$LOG"; }
want() { [[ -z ${ONLY:-} || $1 =~ $ONLY ]]; }

# step NAME LIMIT_S CMD...: run CMD with a timeout, log its output, keep its last stdout line if it is JSON.
step() {
  local name=$1 limit=$2; shift 2
  want "$name" || return 0
  local left=$((DEADLINE - SECONDS))
  if ((left < 25)); then say "### SKIP $name: ${left}s left before DEADLINE=$DEADLINE"; return 0; fi
  ((limit > left)) && limit=$left
  say "### $name (t=${SECONDS}s, limit ${limit}s): ${XLA_FLAGS:+XLA_FLAGS=\"$XLA_FLAGS\" }$*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" "${SMOKE_BENCH[@]}" > "$TMP/out" 2> "$TMP/err"
  local rc=$?
  cat "$TMP/out" >> "$LOG"
  echo "--- stderr (last 40 lines)" >> "$LOG"; tail -n 40 "$TMP/err" >> "$LOG"
  python3 - "$name" "$rc" "$TMP/out" >> "$RESULTS" <<'EOF'
import json, sys
name, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l for l in open(path).read().splitlines() if l.strip()]
try:
    result = json.loads(lines[-1])
except (IndexError, ValueError):
    result = None
print(json.dumps(dict(name=name, rc=rc, result=result)))
EOF
  say "### $name: rc=$rc in $((SECONDS - t0))s | $(grep -E '^(train|decode): ' "$TMP/out" | tail -1)"
  ((rc != 0)) && { echo "--- $name failed; stderr tail:"; tail -n 15 "$TMP/err"; }
  return 0
}

stamped() {
  local file=$1 stop=$2; shift 2
  local t_start=${EPOCHREALTIME/./}
  say "### stamped (t=${SECONDS}s): $* > $file"
  echo "0.00 start: $*" > "$file"
  "$@" 2>&1 | while IFS= read -r line; do  # seconds since the start, without a fork per line
    us=$((${EPOCHREALTIME/./} - t_start)); printf '%5d.%02d %s\n' $((us / 1000000)) $((us / 10000 % 100)) "$line"
    [[ -n $stop && $line =~ $stop ]] && break  # the command then dies of SIGPIPE at its next line
  done >> "$file"
  say "### stamped: done at t=${SECONDS}s"
}

# nanogpt_wall FILE STOP: nanoGPT's shakespeare_char run (its files in $NANOGPT, the text in $TEXT), stamped into FILE
# and stopped at the first line matching STOP; torch.compile's workers outlive the pipe, so they are killed after
nanogpt_wall() {
  [ -f "$NANOGPT/train.py" ] || { say "### SKIP nanoGPT: no $NANOGPT/train.py"; return 0; }
  rm -rf "$TMP/nanogpt" && cp -r "$NANOGPT" "$TMP/nanogpt" && mkdir -p "$TMP/nanogpt/data/shakespeare_char"
  cp "$TEXT" "$TMP/nanogpt/data/shakespeare_char/input.txt"
  (cd "$TMP/nanogpt" && python3 data/shakespeare_char/prepare.py 2>&1 | tail -n 2 | tee -a "$LOG" &&
   stamped "$1" "$2" python3 train.py config/train_shakespeare_char.py)
  sleep 2; pkill -f "train.py config/train_shakespeare_char.py"
  return 0
}

setup_env() {
say "### $(date -u +%FT%TZ) commit $(git rev-parse HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>&1 | tail -n 5 | tee -a "$LOG"
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi 2>&1 | tee -a "$LOG"
python3 - 2>&1 <<'EOF' | tee -a "$LOG"
import sys, importlib.metadata as md
print('python', sys.version.split()[0])
for p in ('jax', 'jaxlib', 'jax-cuda13-plugin', 'jax-cuda12-plugin', 'flax', 'optax', 'orbax-checkpoint', 'grain',
          'ml-collections', 'tiktoken', 'numpy'):
    try: print(p, md.version(p))
    except md.PackageNotFoundError: pass
import jax
print('devices', jax.devices(), jax.devices()[0].device_kind)
EOF

}

keep_walls() {
  ls "$OUT"/wall_*.log > /dev/null 2>&1 || return 0
  grep -E "$1" "$OUT"/wall_*.log | tee -a "$LOG"
  tar czf "$OUT/walls.tgz" -C "$OUT" $(cd "$OUT" && ls wall_*.log) && rm -f "$OUT"/wall_*.log
}

keep_profile() {
  local dir=$1 name=$2
  [ -d "$dir/profile" ] || { say "### no profile in $dir"; return 0; }
  { echo "=== $name"; python3 -m nanogpt_jax.profiling top_ops "$dir/profile" --n=150; } >> "$OUT/top_ops.txt" 2>&1
  (cd "$dir" && tar czf "$OUT/$name.tgz" $(find . -name '*.hlo.txt') $(find profile -name '*.trace.json.gz' ! -name 'perfetto*'))
}

# `python -m` puts the current folder first on sys.path, so a package copy runs from its own folder
pkg() { PKG=(env -C "$PWD/.whl/pkg_$1" PYTHONPATH="$PWD/.whl/pkg_$1:$PYTHONPATH"); }

summarize() {
python3 - "$RESULTS" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f'{"run":52} {"rc":>3} {"ms/iter":>9} {"tok/s":>10} {"MFU":>6} {"peak GiB":>8} {"compile s":>9}  decode only / with prefill')
for r in rows:
    x = r['result'] or {}
    fmt = lambda v, f: format(v, f) if isinstance(v, (int, float)) else '-'
    mfu = f'{100 * x["mfu"]:.1f}%' if x.get('mfu') else '-'
    line = (f'{r["name"]:52} {r["rc"]:>3} {fmt(x.get("ms_per_iter"), ".2f"):>9} {fmt(x.get("tokens_per_sec"), ",.0f"):>10} '
            f'{mfu:>6} {fmt(x.get("peak_memory_gib"), ".2f"):>8} {fmt(x.get("compile_s"), ".1f"):>9}')
    if x.get('mode') == 'decode':
        line += f'  {x["decode_tokens_per_sec"]:,.0f} / {x["tokens_per_sec"]:,.0f} tok/s, {x["ms_per_token_step"]:.3f} ms/step'
    print(line)
if rows and rows[0]['result']:
    c = rows[0]['result']['config']
    print(f'device {c["device"]} x{c["num_devices"]}, jax {c["jax"]}, commit {c["git_commit"]}, {c["date"]}')
EOF
}
