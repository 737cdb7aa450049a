#!/usr/bin/env bash
# The CLI on a NumPy file: make a tiny .npy, compress it to the warm tier, inspect the segments
# against the source (exit 1 if a frame is over its bound), decompress to raw f32.
# From NumPy itself: np.save('frames.npy', x.astype('<f4')) with x of shape (frames, dim).
#
# Run: bash examples/cli-numpy/run.sh [work-dir]     (TT overrides the CLI command)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)}
tt=${TT:-npx temporal-tensor}

node "$here/make-npy.mjs" "$work/frames.npy" 100 128
$tt compress "$work/frames.npy" --tier warm -o "$work/frames.tqtc"
$tt inspect "$work/frames.tqtc" --source "$work/frames.npy"
$tt decompress "$work/frames.tqtc" -o "$work/frames.f32"
ls -l "$work/frames.npy" "$work/frames.tqtc" "$work/frames.f32"
