#!/usr/bin/env bash
# Install Debian packages (as root, or through sudo): bash .ci/apt-install.sh [apt options] PACKAGE...
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "$@"
