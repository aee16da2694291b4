#!/usr/bin/env bash
# The GPU checks of issue 10 as one script, for a lent GPU machine (a bare Python with torch):
#   bash benchmarks/gpu_check.sh [wheel_dir]
# 1. installs the carried cp312 wheels (dagster, duckdb, ... : docs/deployment.md) into /tmp/site;
# 2. the CUDA unit checks: the acceleration tests on the CUDA device type;
# 3. the whole graph at scale 3 on the CPU (16 cores, the baseline) and on CUDA in one process:
#    the recipe (auto), the catalog's settings (+off) and the recipe with torch.compile;
# 4. the whole graph at scale 20 on CUDA alone (target: < 90 s).
# Each benchmark prints its numbers and ratios; nothing here needs the network.
# The wheels: every package of the runtime closure of dagster, dagster-duckdb, duckdb, pydantic,
# pydantic-settings that the GPU image lacks (plus grpcio/protobuf/typing_extensions at this
# venv's versions), fetched here with `pip download --no-deps --only-binary=:all: --python-version
# 3.12 --implementation cp --platform manylinux2014_x86_64 ... -d .whl NAME==VERSION` (about 43 MB).
set -euo pipefail
wheels=${1:-.whl}
if [ -d "$wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
python3 - <<'PY'
import torch
from pcl_pipeline.catalog import BackboneParams
from pcl_pipeline.data.splits import left_pad
from pcl_pipeline.model.sasrec import SASRec, SASRecConfig
from pcl_pipeline.training.pretrain import next_item_loss
cuda = torch.device("cuda")
torch.manual_seed(0)
model = SASRec(SASRecConfig(n_items=500, hidden=64, blocks=2, heads=2, max_len=50, dropout=0.0)).to(cuda)
seqs = left_pad([torch.randint(1, 501, (n,)).tolist() for n in torch.randint(3, 60, (512,)).tolist()], 51).to(cuda)
params = BackboneParams()
with torch.autocast("cuda", dtype=torch.bfloat16):
    masked = next_item_loss(model, seqs, params)
    torch.cuda.set_sync_debug_mode("error")  # any host sync in the dense loss raises here
    dense = next_item_loss(model, seqs, params, dense=True)
    torch.cuda.set_sync_debug_mode("default")
print(f"cuda dense loss {dense.item():.5f} vs masked {masked.item():.5f} (bf16), no host sync in the dense loss")
# 20 training steps as the loop runs them (gather on the device, bf16 forward, backward, Adam),
# with CUDA's sync check raising on any step that waits for the device
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
order = torch.randperm(len(seqs)).to(cuda)
total = None
torch.cuda.set_sync_debug_mode("error")
for step in range(20):
    batch = seqs[order[(step * 64) % 512:(step * 64) % 512 + 64]]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = next_item_loss(model, batch, params, dense=True)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    total = loss.detach().double() if total is None else total + loss.detach().double()
torch.cuda.set_sync_debug_mode("default")
print(f"20 training steps without a host sync; mean loss {total.item() / 20:.4f}")
PY
python3 benchmarks/bench_gpu_graph.py --scale 3 --runs cpu,cuda,cuda+off,cuda+compile
python3 benchmarks/bench_gpu_graph.py --scale 20 --runs cuda
