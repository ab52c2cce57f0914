#!/usr/bin/env bash
# Download, on a machine with package-registry access, the wheels that benchmarks/gpu.sh installs offline on a GPU
# machine that has Python 3.12 and its own torch but not gymnasium, tensordict or torchrl.
#
#   bash benchmarks/prepare_wheels.sh [DIR]      # default DIR: .whl (ignored by git)
#   bash benchmarks/gpu.sh --wheels .whl          # then, on the GPU machine
#
# --no-deps keeps pip from fetching a torch build; every dependency the GPU image lacks is named explicitly.
set -euo pipefail
dir="${1:-.whl}"
mkdir -p "$dir"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dir" \
  torchrl==0.14.1 tensordict==0.14.3 gymnasium==1.4.0 pyvers==0.2.3 hoptorch==0.1.4 orjson==3.13.0 \
  farama-notifications==0.0.6 importlib-metadata==8.7.0
ls -1 "$dir"
