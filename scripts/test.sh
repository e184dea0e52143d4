#!/bin/bash
# The whole test suite, as CI runs it: every test against the native lab (plain processes),
# then the integration tests of the sync, the generators, HDFS homes, verify and DC failover
# against the lab in containers, started by pytest-docker (docker compose, or podman-compose
# where there is no Docker engine, as on the CI machines). Extra arguments go to the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest "$@"
# The containers use the same addresses and ports as the native lab: it must be down.
.venv/bin/dirkit-lab down >/dev/null
DIRKIT_LAB=docker .venv/bin/pytest tests/integration/test_sync.py tests/integration/test_generators_lab.py \
  tests/integration/test_hdfs.py tests/integration/test_verify.py tests/integration/test_failover.py \
  tests/integration/test_identity.py tests/integration/test_sssd.py tests/integration/test_hardened_dc.py \
  tests/integration/test_revocation_lab.py tests/integration/test_yarn_lab.py
