#!/usr/bin/env bash
# What the tests need from Debian, beside the Python extras (pip install -e ".[train,demo,dev]"):
# - Debian's Chromium for the demo's browser test (.ci/install-browser.sh);
# - on x86-64, QEMU's user-mode emulator (qemu-user, QEMU 7.2 on Debian 12: the first whose
#   emulator runs AVX2): tests/models run the int8 files on an emulated x86 CPU without VNNI
#   (`qemu-x86_64 -cpu Haswell`), where 8-bit weights saturate ONNX Runtime's u8s8 kernels.
#   Without it those tests skip with the reason.
# - DCMTK (dcmtk): storescu/echoscu, DICOM clients nobody here wrote, for the `echostream serve`
#   load test (tests/stream/test_serve_dcmtk.py); without them that test skips with the reason.
#   (pynetdicom installs look-alike `storescu`/`echoscu` scripts: ask dpkg, not the PATH.)
set -euo pipefail
cd "$(dirname "$0")"
bash install-browser.sh
if dpkg -s dcmtk >/dev/null 2>&1; then
    echo "dcmtk already installed: $(/usr/bin/storescu --version | head -1)"
else
    bash apt-install.sh --no-install-recommends dcmtk
fi
if [ "$(uname -m)" != "x86_64" ]; then
    echo "qemu-user not needed on $(uname -m) (the emulated-CPU tests skip)"
    exit 0
fi
if command -v qemu-x86_64 >/dev/null; then
    echo "qemu-user already installed: $(qemu-x86_64 --version | head -1)"
    exit 0
fi
bash apt-install.sh --no-install-recommends qemu-user
qemu-x86_64 --version | head -1
