"""Ship trained segmentation weights: copy, write .sha256 and the model card (not a rule).

    python scripts/segment_ship.py results/segment/train/model.safetensors \
        resources/weights/segment_demo.safetensors --note "CPU, 1 thread, 4 min, 24 subjects"
"""

import argparse
from pathlib import Path

from cine2lge.segment.train import ship_weights

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("trained", help="results/segment/train/model.safetensors")
parser.add_argument("shipped", help="resources/weights/segment_demo.safetensors")
parser.add_argument("--metrics", help="metrics.tsv (default: beside the trained weights)")
parser.add_argument("--note", default="", help="how the weights were made (hardware, time)")
parser.add_argument("--evaluation", type=Path, help="markdown file appended as 'Evaluation'")
args = parser.parse_args()
evaluation = args.evaluation.read_text() if args.evaluation else ""
digest = ship_weights(args.trained, args.shipped, args.metrics, args.note, evaluation)
print(f"{args.shipped}: sha256 {digest}")
