#!/usr/bin/env bash
# `make serve`: a Prefect server on 127.0.0.1 (unless PREFECT_API_URL points at an existing one),
# the process work pool, the deployments of prefect.yaml, and a
# worker in the foreground. Ctrl-C stops the worker and the server this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export UMKM_PROJECT_DIR="$PWD"
: "${UMKM_PII_KEY:?set UMKM_PII_KEY (or create the Prefect Secret block umkm-pii-key) before serving}"
port="${UMKM_SERVE_PORT:-4200}"
started_server=""
if [ -z "${PREFECT_API_URL:-}" ]; then
  export PREFECT_API_URL="http://127.0.0.1:${port}/api"
  prefect server start --host 127.0.0.1 --port "$port" > "${UMKM_SERVE_LOG:-prefect-server.log}" 2>&1 &
  started_server=$!
  trap '[ -n "$started_server" ] && kill "$started_server" 2>/dev/null' EXIT
fi
for _ in $(seq 1 120); do
  python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$PREFECT_API_URL" 2>/dev/null && break
  sleep 1
done
python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health', timeout=5)" "$PREFECT_API_URL"
echo "Prefect API at $PREFECT_API_URL"
prefect work-pool inspect umkm-process > /dev/null 2>&1 || prefect work-pool create umkm-process --type process
prefect --no-prompt deploy --all
echo "Deployed: umkm-nightly/nightly (cron 0 2 * * * Asia/Jakarta) and umkm-backfill/backfill."
exec prefect worker start --pool umkm-process --type process
