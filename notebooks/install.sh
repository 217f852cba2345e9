#!/usr/bin/env bash
# Installs what the notebooks need, for the current user:
#   - Jupyter (notebook, nbconvert, nbclient) from PyPI, at the versions tested here;
#   - the evcxr Rust kernel, evcxr_jupyter 0.22.0, built from crates.io
#     (about 13 minutes on 2 cores the first time; skipped when already installed);
#   - the kernel's registration with Jupyter (`evcxr_jupyter --install`, kernel name `rust`),
#     with cargo's dev profile overridden to build without debug assertions and overflow checks;
#   - local copies of reveal.js, MathJax, jQuery and require.js for offline slide decks
#     (npm, into notebooks/slides/vendor/, 11 MB) and, when run as root, Debian's Chromium,
#     with which the tests open the decks offline.
# Needs python3 with pip, a Rust toolchain (cargo) and npm. Safe to rerun.
set -euo pipefail

EVCXR_VERSION=0.22.0

python3 -m pip install --quiet --disable-pip-version-check \
    "notebook==7.6.5" "jupyterlab==4.6.6" "nbconvert==7.17.2" "nbclient==0.11.0" "nbformat==5.11.1" "ipykernel==7.4.0"

if evcxr_jupyter --version 2>/dev/null | grep -q "$EVCXR_VERSION"; then
    echo "evcxr_jupyter $EVCXR_VERSION already installed"
else
    cargo install evcxr_jupyter --version "$EVCXR_VERSION" --locked
fi

# cargo's bin directory may not be on PATH in a fresh shell
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
evcxr_jupyter --install
# evcxr builds the cells and their dependencies (this crate, dfdx, gemm) with its own
# [profile.dev]: opt-level 2, debug assertions and overflow checks on. With them training
# runs several times slower than from the release binary (notebooks/README.md, "Speed").
# Cargo lets the environment override a manifest's profile, so the kernel is registered
# with both checks off (evcxr's opt-level 2 stays: 3 would lengthen every cold build).
python3 - <<'PY'
import json, subprocess
specs = json.loads(subprocess.check_output(["jupyter", "kernelspec", "list", "--json"]))
path = specs["kernelspecs"]["rust"]["resource_dir"] + "/kernel.json"
with open(path) as f:
    kernel = json.load(f)
kernel.setdefault("env", {}).update({
    "CARGO_PROFILE_DEV_DEBUG_ASSERTIONS": "false",
    "CARGO_PROFILE_DEV_OVERFLOW_CHECKS": "false",
})
with open(path, "w") as f:
    json.dump(kernel, f, indent=1)
print(f"{path}: no debug assertions or overflow checks in the kernel's builds")
PY
jupyter kernelspec list

# Offline slide decks (notebooks/slides.sh) and their check in headless Chromium.
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/slides/install-vendor.sh" "$here/slides/vendor" --slim
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
    else
        echo "Chromium not installed: the slide decks are built but not checked offline (apt-get install chromium)"
    fi
fi
