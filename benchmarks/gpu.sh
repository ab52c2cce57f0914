#!/usr/bin/env bash
# The GPU run: the paper's Fig. 1 setting (d = 50, p_long = 0.25) with the default GPT, then with the paper's
# mistral-2x128 in 3 seeds, both NTP-only controls to 10^7 samples (evaluated 5 times a decade), and the speed
# benchmarks on CUDA. Results and figures go to OUT (default runs/benchmarks/gpu), the runs' checkpoints to
# OUT/paper_scale and OUT/paper_scale_mistral. Not yet timed on a GPU: budget about an hour on one H100-class GPU
# (the default GPT's part was meant to take under 5 minutes; the mistral part is 6 controls of 10^7 demonstrations).
#
#   bash benchmarks/gpu.sh                    # on a GPU machine where the package's dependencies are installed
#   bash benchmarks/gpu.sh --wheels .whl      # a GPU machine with its own torch but no gymnasium/tensordict/torchrl:
#                                             # prepare .whl first with  bash benchmarks/prepare_wheels.sh .whl
#   bash benchmarks/gpu.sh --small            # the same pipeline and speed benchmarks, tiny, on the CPU (the test suite
#                                             # runs it: every script and option the GPU run uses is exercised)
#   bash benchmarks/gpu.sh --out DIR          # results in DIR (benchmarks/results/gpu: next to the committed ones)
#   bash benchmarks/gpu.sh --multiplication   # also multiplication at the paper's sizes (5-7 digits, gpt2-4x256 and
#                                             # mistral-4x256, 3 seeds: hours, not minutes; --small runs it tiny)
#
# It uses the machine's own torch and never installs one.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="paper" small="" wheels="" out="runs/benchmarks/gpu" device="cuda" multiplication=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --small) small=1; scale="small"; device="cpu"; shift ;;
    --wheels) wheels="${2:?--wheels needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --multiplication) multiplication=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (allowed: --small, --wheels DIR, --out DIR, --multiplication)" >&2; exit 2 ;;
  esac
done
py="${PYTHON:-python3}"
if [[ -n "$wheels" ]]; then
  [[ -d "$wheels" ]] || { echo "gpu.sh: --wheels $wheels is not a directory" >&2; exit 2; }
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/parity-cot-site \
    "$wheels"/*.whl
  export PYTHONPATH="/tmp/parity-cot-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [[ -z "$small" ]] && ! "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "gpu.sh: no CUDA device visible to torch; use --small for the CPU version" >&2; exit 2
fi
mkdir -p "$out"
t0=$SECONDS
"$py" benchmarks/paper_scale.py --scale "$scale" --device "$device" --points-per-decade 5 \
  --run-dir "$out/paper_scale" --results "$out" --no-progress | tee "$out/paper_scale.txt"
"$py" benchmarks/plots.py paper_scale --results "$out" --figures "$out"
# Fig. 1 at the paper's model size, 3 seeds, both controls evaluated log-spaced (--small: the same, at d = 6)
"$py" benchmarks/paper_scale.py --scale "$scale" --device "$device" --seeds 0 1 2 \
  --agent-config '{"preset": "mistral-2x128"}' --points-per-decade 5 --run-dir "$out/paper_scale_mistral" \
  --name paper_scale_mistral --results "$out" --no-progress | tee "$out/paper_scale_mistral.txt"
"$py" benchmarks/plots.py paper_scale_mistral --results "$out" --figures "$out"
# the speed benchmarks on CUDA (RL speed from the d = 50 checkpoint just pre-trained); --small: tiny, on the CPU
ckpt="$out/paper_scale/seed0/pretrain"
if [[ -z "$small" ]]; then
  env_args=(--device cuda) gen_args=(--device cuda) rl_args=(--device cuda) profile_args=(--device cuda)
else
  env_args=(--device cpu --batch-sizes 4 --impls torch --min-time 0.01 --repeats 1)
  profile_args=(--device cpu --batch-sizes 4 --min-time 0.01 --repeats 1)
  gen_args=(--device cpu --d 6 --batch 8 --repeats 1)
  rl_args=(--device cpu --batch-size 16 --repeats 1 --runs 1 --steps 20)
fi
"$py" benchmarks/env_throughput.py "${env_args[@]}" --results "$out" | tee "$out/env_throughput.txt"
"$py" benchmarks/env_step_profile.py "${profile_args[@]}" --results "$out" | tee "$out/env_step_profile.txt"
"$py" benchmarks/generation_speed.py "${gen_args[@]}" --results "$out" | tee "$out/generation_speed.txt"
"$py" benchmarks/rl_speed.py --checkpoint "$ckpt" "${rl_args[@]}" --results "$out" | tee "$out/rl_speed.txt"
# multiplication with a chain of partial products (benchmarks/multiplication.py): the paper's sizes on the GPU with
# --multiplication (5, 6 and 7 digits, p_long 0.25, seeds 0-2, gpt2-4x256 then mistral-4x256; untuned there: the
# recipe is the 3 x 3 CPU one scaled to batch 1024); --small: 2 x 2 digits, tiny, on the CPU, and its speed benchmark
if [[ -n "$small" ]]; then
  "$py" benchmarks/multiplication.py --scale small --device cpu --run-dir "$out/multiplication" --results "$out" \
    | tee "$out/multiplication.txt"
  "$py" benchmarks/plots.py multiplication --results "$out" --figures "$out"
  "$py" benchmarks/multiplication_speed.py --checkpoint "$out/multiplication/d2-p0.25-s0/pretrain" \
    --after "$out/multiplication/d2-p0.25-s0/reinforce" --batch 64 --collect-batch 64 --min-time 0.05 --repeats 1 \
    --results "$out" | tee "$out/multiplication_speed.txt"
elif [[ -n "$multiplication" ]]; then
  for preset in gpt2-4x256 mistral-4x256; do
    "$py" benchmarks/multiplication.py --scale paper --device cuda --agent-config "{\"preset\": \"$preset\"}" \
      --run-dir "$out/multiplication_$preset" --name "multiplication_$preset" --results "$out" --resume \
      | tee -a "$out/multiplication_$preset.txt"
    "$py" benchmarks/plots.py "multiplication_$preset" --results "$out" --figures "$out"
  done
  ckpt="$out/multiplication_gpt2-4x256/d5-p0.25-s0"
  "$py" benchmarks/multiplication_speed.py --checkpoint "$ckpt/pretrain" --after "$ckpt/reinforce" \
    --collect-batch 1024 --results "$out" | tee "$out/multiplication_speed.txt"
fi
echo "gpu.sh: done in $((SECONDS - t0)) s; results in $out"
