#!/usr/bin/env bash
# Installs what the notebooks need, for the current user:
#   - Jupyter (notebook, nbconvert, nbclient) from PyPI, at the versions tested here;
#   - the evcxr Rust kernel, evcxr_jupyter 0.22.0, built from crates.io
#     (about 13 minutes on 2 cores the first time; skipped when already installed);
#   - the kernel's registration with Jupyter (`evcxr_jupyter --install`, kernel name `rust`).
# Needs python3 with pip and a Rust toolchain (cargo). Safe to rerun.
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
jupyter kernelspec list
