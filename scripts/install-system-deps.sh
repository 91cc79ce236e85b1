#!/usr/bin/env bash
# Installs the Debian packages sampan's tests need, only those missing. Runs apt-get update at most once.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-system-deps: need root to install: ${need[*]}" >&2
        exit 1
    fi
    echo "install-system-deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
