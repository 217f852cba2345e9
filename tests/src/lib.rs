//! Workspace-level checks (see `tests/`): the promises of the README about the repository
//! itself, independent of the `sphereface-core` crate.

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
