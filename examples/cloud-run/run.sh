#!/usr/bin/env bash
# Create (or update) and run the volstore Cloud Run Job with gcloud flags instead of job.yaml.
# Usage: examples/cloud-run/run.sh IMAGE SRC DST [TASKS] [PARALLELISM]
#   e.g. examples/cloud-run/run.sh REGION-docker.pkg.dev/P/R/volstore:TAG gs://src/em/s0/ gs://dst/em.ome.zarr/ 500 100
set -euo pipefail
IMAGE=$1 SRC=$2 DST=$3 TASKS=${4:-100} PARALLELISM=${5:-50}
REGION=${REGION:-us-central1}
SA=${SERVICE_ACCOUNT:-volstore-jobs@$(gcloud config get-value project).iam.gserviceaccount.com}
verb=create
gcloud run jobs describe volstore-pyramid --region="$REGION" >/dev/null 2>&1 && verb=update
# gcloud splits --args at commas; the ^;^ prefix makes ';' the separator so 1,2,2 stays whole.
gcloud run jobs "$verb" volstore-pyramid \
  --region="$REGION" --image="$IMAGE" --service-account="$SA" \
  --tasks="$TASKS" --parallelism="$PARALLELISM" --max-retries=4 --task-timeout=24h \
  --cpu=2 --memory=4Gi --set-env-vars=VOLSTORE_LOG=info \
  --args="^;^downsample;$SRC;$DST;--factors=1,2,2;--levels=6;--chunk-shape=64,64,64;--shard-shape=512,512,512;--checksum;--resume;--memory-limit=2GiB;--wait-timeout=12h;--json"
gcloud run jobs execute volstore-pyramid --region="$REGION" --wait
