#!/usr/bin/env bash
# Headless Chromium for the CES report's browser check and screenshot.
#
#   scripts/chromium.sh install    install Debian's `chromium` package if no Chromium is
#                                  found (needs root; no-op when present)
#   scripts/chromium.sh path       print the executable the project uses, or fail
#
# orchestration/report.py looks for the same names (chromium, chromium-browser,
# google-chrome). Without one, builds still write the report and say it was not checked.
set -euo pipefail

die() { echo "chromium: $*" >&2; exit 1; }

path() {
    local name
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return
        fi
    done
    return 1
}

install() {
    if path >/dev/null; then
        echo "Chromium found: $(path)"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "Chromium is not installed, and installing it needs root: sudo $0 install"
    command -v apt-get >/dev/null || die "Chromium is not installed and apt-get is missing"
    echo "Installing Chromium from Debian packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
        || { apt-get update -q >/dev/null \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
        || die "apt-get install chromium failed"
    path >/dev/null || die "chromium installed, but not found on PATH"
}

case "${1:-}" in
    install) install ;;
    path) path || die "no Chromium found (run: $0 install)" ;;
    *) die "usage: $0 install | path" ;;
esac
