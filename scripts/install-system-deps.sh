#!/usr/bin/env bash
# Installs the Debian packages sampan's tests need, only those missing. Runs apt-get update at most once.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
# sampan etcd snapshot save|restore: etcdctl; sampan up --control-plane-nodes N: HAProxy in front of the API servers
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
# kube-proxy: nft (default mode), iptables-restore (--proxy-mode iptables)
command -v nft >/dev/null 2>&1 || [[ -x /usr/sbin/nft ]] || need+=(nftables)
command -v iptables-restore >/dev/null 2>&1 || [[ -x /usr/sbin/iptables-restore ]] || need+=(iptables)
# the containerd runtime (CRI): containerd + runc, the CNI plugins (Debian puts them in /usr/lib/cni), and a
# static busybox for the locally built pause and test images
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || [[ -x /usr/sbin/runc ]] || need+=(runc)
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || need+=(containernetworking-plugins)
[[ -x /bin/busybox ]] || need+=(busybox-static)
# the live view's browser test: Debian's chromium driven by selenium through chromium-driver
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# images: a local registry for tests, skopeo to push OCI layouts into it, htpasswd for its auth
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
# sampan image load/ls/rm and their tests: ctr and a private containerd; the test images: busybox-static
command -v ctr >/dev/null 2>&1 || need+=(containerd)
[[ -x /bin/busybox ]] && file -L /bin/busybox 2>/dev/null | grep -q "statically linked" || need+=(busybox-static)
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
