#!/bin/sh
# A real ipykernel on a pretend 16-GPU node: this folder's fake nvidia-smi comes first.
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here/bin:$PATH" exec python -m ipykernel_launcher -f "$1"
