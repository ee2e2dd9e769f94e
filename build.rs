//! Records what `--version` and `genesys_exporter_build_info` say about the build:
//!
//! - `GENESYS_EXPORTER_REVISION`: the environment variable of that name when set (Docker builds,
//!   whose context has no `.git`: `--build-arg GENESYS_EXPORTER_REVISION=...`), else
//!   `git rev-parse --short=12 HEAD`, else `unknown`;
//! - `GENESYS_EXPORTER_RUSTC_VERSION`: what `$RUSTC --version` prints (`rustc 1.95.0 (...)`).
//!
//! It reruns only when HEAD moves (`.git/HEAD`, the branch it points to, `packed-refs`) or the
//! override changes, not on every edit of a source file.

use std::path::{Path, PathBuf};
use std::process::Command;

const REVISION_OVERRIDE: &str = "GENESYS_EXPORTER_REVISION";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={REVISION_OVERRIDE}");
    let revision = match std::env::var(REVISION_OVERRIDE) {
        Ok(r) if !r.trim().is_empty() => r.trim().to_string(),
        _ => {
            watch_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=GENESYS_EXPORTER_REVISION={revision}");
    println!(
        "cargo:rustc-env=GENESYS_EXPORTER_RUSTC_VERSION={}",
        rustc_version()
    );
}

/// `git ARGS` in the package's directory, trimmed; `None` without git, outside a repository
/// or on an empty answer.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `rerun-if-changed` for HEAD and the ref it names, the files a commit or a checkout
/// touches. Only files that exist: cargo reruns a script whose watched file is missing every
/// time.
fn watch_head() {
    let dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let resolve = |p: String| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            dir.join(p)
        }
    };
    // A worktree has its own HEAD but shares refs with the main repository.
    let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(resolve) else {
        return;
    };
    let common = git(&["rev-parse", "--git-common-dir"]).map_or_else(|| git_dir.clone(), resolve);
    let head = git_dir.join("HEAD");
    watch(&head);
    if let Some(reference) = std::fs::read_to_string(&head)
        .ok()
        .as_deref()
        .and_then(|h| h.trim().strip_prefix("ref: ").map(str::to_string))
    {
        watch(&git_dir.join(&reference));
        if common != git_dir {
            watch(&common.join(&reference));
        }
    }
    watch(&common.join("packed-refs"));
}

fn watch(path: &Path) {
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `rustc 1.95.0 (59807616e 2026-04-14)`, from the compiler cargo builds with.
fn rustc_version() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rustc unknown".into())
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
