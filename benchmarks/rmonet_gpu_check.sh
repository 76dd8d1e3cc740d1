#!/usr/bin/env bash
# R-MONet GPU check: train the paper's Multi-dSprites R-MONet(UNet) configuration
# (configs/rmonet/multi_dsprites_unet.yaml: FPN 256, head 64, VAE 32-32-256, K = 6, batch 64, Adam lr 1e-4)
# for a fixed wall-clock budget on one CUDA GPU with bf16 autocast, then print test fg-ARI, box AP50 and
# training images/s next to the paper's Table 1/2 figures and write the decomposition picture.
#
#   bash benchmarks/rmonet_gpu_check.sh                      # 8 minutes on cuda, 1600 test scenes
#   bash benchmarks/rmonet_gpu_check.sh --minutes 30 --output_dir outputs/gpu30
#   bash benchmarks/rmonet_gpu_check.sh --tiny               # seconds on CPU: checks the script end to end
#
# Flags: --minutes M (default 8), --output_dir DIR (alias --out; default outputs/rmonet_gpu_check),
# --device DEV (default cuda), --tiny (CPU, 32x32 scenes, narrow layers, 3 iterations, 8 test scenes);
# anything else goes to benchmarks/bench_rmonet.py (e.g. --set model.alpha_bias_init=null, --seeds 0 1 2).
# Outputs in DIR: bench_results.md / .json (the table), bench_curves.png, decomposition.png, unet/ (the run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=8
out=outputs/rmonet_gpu_check
device=cuda
tiny=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift ;;
    --output_dir|--out) out="$2"; shift ;;
    --device) device="$2"; shift ;;
    --tiny) tiny=1 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

if [ "$tiny" = 1 ]; then
  device=cpu
  minutes=1
  size=(--preset cpu --batch_size 4 --test_images 8 --eval_every 0 --num_workers 0
        --set data.image_size=32 --set train.max_iters=3 --set eval.batch_size=8 --set eval.num_figures=2)
else
  if [[ "$device" == cuda* ]] && ! python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "rmonet_gpu_check: no CUDA device visible to PyTorch (use --tiny for the CPU smoke run)" >&2
    exit 2
  fi
  size=(--preset paper --batch_size 64 --test_images 1600 --eval_every 0 --num_workers 4
        --set train.precision=bf16)
fi

python benchmarks/bench_rmonet.py --variants unet --minutes "$minutes" --device "$device" --output_dir "$out" \
  "${size[@]}" "${extra[@]}"
figure=$(ls -t "$out"/unet*/figures/decomposition_iter*.png | head -n 1)
cp "$figure" "$out/decomposition.png"
echo "decomposition picture: $out/decomposition.png (rows: input, reconstruction, argmax segmentation with" \
  "the boxes scoring >= 0.5, m1..m5, m_bg)"
