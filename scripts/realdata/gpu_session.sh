#!/usr/bin/env bash
# One prepared GPU lease (device tool, one NVIDIA H200): the sampling benchmark of the generator,
# then every real-data training at once (subject-wise CV folds and the final weights of the
# segmenter, the learned LGE quantifier and the MyoPS generator), each budgeted in seconds.
# Needs the caches of scripts/realdata/prepare.py in .gpu/data and, where MONAI is missing,
# wheels in .whl. Results: $OUT/*.tar.gz (+ bench.txt, logs).
#   bash scripts/realdata/gpu_session.sh [bench_s] [segment_s] [scar_s] [model_s]
set -uo pipefail
BENCH_S=${1:-150}; SEG_S=${2:-240}; SCAR_S=${3:-180}; MODEL_S=${4:-240}
OUT=${OUT:-.work/gpu_out}; mkdir -p "$OUT"
if ! python3 -c "import monai" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${SRC:-src}${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/bench.txt"
python3 -c "import torch, monai; print('torch', torch.__version__, 'monai', monai.__version__)" | tee -a "$OUT/bench.txt"
[[ $BENCH_S -le 1 ]] || timeout "$BENCH_S" python3 bench/model.py --device cuda --size 128 --frames 8 --steps 20 \
    --batches 256 1024 --variants fp32 bf16 >> "$OUT/bench.txt" 2>&1
echo "bench exit $?" >> "$OUT/bench.txt"
W=.work/gpu; mkdir -p $W/logs
start=$(date +%s)
pids=()
launch() {  # task fold budget extra...
    local task=$1 fold=$2 budget=$3; shift 3
    python3 scripts/realdata/train.py "$task" --fold "$fold" --budget "$budget" --out $W "$@" \
        > $W/logs/${task}_${fold}.log 2>&1 &
    pids+=($!)
}
for f in ${FOLDS:-0 1 2 3 4 final}; do
    launch segment $f "$SEG_S" --batch-size 32 --augment-translate 10 ${SEG_ARGS:-}
    [[ -n ${NO_SCAR:-} ]] || launch scar $f "$SCAR_S" --batch-size 32
    [[ -n ${NO_MODEL:-} ]] || launch model $f "$MODEL_S" --batch-size 32 --samples 8 --sample-steps 10
done
# Hard stop, so the results below are always packed inside the lease.
( sleep $((SEG_S > MODEL_S ? SEG_S + ${WATCH_EXTRA:-150} : MODEL_S + ${WATCH_EXTRA:-150})); kill "${pids[@]}" 2>/dev/null ) & watchdog=$!
wait "${pids[@]}"; kill $watchdog 2>/dev/null
echo "training wall $(( $(date +%s) - start )) s" | tee -a "$OUT/bench.txt"
nvidia-smi --query-gpu=memory.used --format=csv >> "$OUT/bench.txt"
for task in segment scar model; do
    tar czf "$OUT/$task.tar.gz" --exclude=checkpoints --exclude="*.stale" -C $W "$task"
done
tar czf "$OUT/logs.tar.gz" -C $W logs
ls -la "$OUT"
