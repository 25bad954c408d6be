#!/usr/bin/env bash
# The cluster fault suite as a soak: many rounds of load on two receivers and a 3-node
# nats-server cluster, one fault per round (DC09_CLUSTER_ROUNDS, default 1000: about five hours
# on a 2-core machine). The test's timeout follows the number of rounds. Needs nats-server.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${DC09_CLUSTER_ROUNDS:-1000}"
case "$rounds" in
  ''|*[!0-9]*) echo "DC09_CLUSTER_ROUNDS must be a number of rounds, not '$rounds'" >&2; exit 2 ;;
esac
npm run build
DC09_CLUSTER_ROUNDS="$rounds" exec npx vitest run --project cluster test/cluster/faults.test.ts
