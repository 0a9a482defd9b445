//! Installs what the build and the tests need when it is missing or at the wrong version,
//! from the places reachable offline: rustup for the wasm target, crates.io for trunk and
//! wasm-bindgen-cli, Debian's packages for Chromium and ChromeDriver and for Node.js and
//! npm, the npm registry for binaryen's `wasm-opt` (`xtask/npm`, a ready build that runs on
//! Node.js, where crates.io's `wasm-opt` compiles binaryen from source for ten minutes) and
//! for the pinned twitter-text of `tests/js`. Each install prints how long it took; a
//! second run finds everything current and installs nothing.

use crate::sh;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// trunk 0.22 needs a newer rustc than these machines have; 0.21 installs offline.
const TRUNK_REQ: &str = "~0.21";
const TRUNK_PREFIX: &str = "trunk 0.21.";

/// Output of `cmd --version`, or `None` when it is not installed.
pub fn version_of(cmd: &str) -> Option<String> {
    let out = Command::new(cmd)
        .arg("--version")
        .env("PATH", crate::tool_path())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The version Cargo.lock pins for `package`.
pub fn lock_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let end = lock[start..].find('"')?;
    Some(lock[start..start + end].to_owned())
}

/// The string value of `key` in Trunk.toml's `[tools]`.
pub fn trunk_tool(trunk_toml: &str, key: &str) -> Option<String> {
    trunk_toml
        .lines()
        .skip_while(|l| l.trim() != "[tools]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| {
                v.split('#')
                    .next()
                    .unwrap_or(v)
                    .trim()
                    .trim_matches('"')
                    .to_owned()
            })
        })
}

/// Runs one install step, printing how long it took.
fn timed(what: &str, step: impl FnOnce() -> Result<()>) -> Result<()> {
    let started = std::time::Instant::now();
    step()?;
    println!(
        "xtask: installed {what} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn ensure_wasm_tools(root: &Path) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (the Rust toolchain is needed)")?;
    if !String::from_utf8_lossy(&installed.stdout).contains("wasm32-unknown-unknown") {
        timed("the wasm32-unknown-unknown target", || {
            sh(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
        })?;
    }

    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let bindgen =
        lock_version(&lock, "wasm-bindgen").context("wasm-bindgen is not in Cargo.lock")?;
    let trunk_toml = std::fs::read_to_string(root.join("Trunk.toml"))?;
    if trunk_tool(&trunk_toml, "wasm_bindgen").as_deref() != Some(bindgen.as_str()) {
        bail!("Trunk.toml's [tools] wasm_bindgen must equal Cargo.lock's wasm-bindgen {bindgen}");
    }
    let have_bindgen = version_of("wasm-bindgen");
    if have_bindgen.as_deref() != Some(&format!("wasm-bindgen {bindgen}")) {
        timed(&format!("wasm-bindgen-cli {bindgen}"), || {
            // Not --locked: its lock pins a webpki-roots the registry here does not serve.
            sh(crate::cargo().args(["install", "wasm-bindgen-cli", "--version", &bindgen]))
        })?;
    }

    if !version_of("trunk").is_some_and(|v| v.starts_with(TRUNK_PREFIX)) {
        timed("trunk", || {
            sh(crate::cargo().args(["install", "--locked", "trunk", "--version", TRUNK_REQ]))
        })?;
    }

    let wasm_opt = trunk_tool(&trunk_toml, "wasm_opt").context("Trunk.toml names no wasm_opt")?;
    let want = wasm_opt.trim_start_matches("version_");
    let npm_tools = root.join("xtask/npm");
    let pinned = std::fs::read_to_string(npm_tools.join("package.json"))
        .context("reading xtask/npm/package.json")?;
    if !pinned.contains(&format!("\"binaryen\": \"{want}.")) {
        bail!("Trunk.toml's [tools] wasm_opt must name xtask/npm's binaryen ({wasm_opt})");
    }
    ensure_node_runtime()?;
    npm_ci(&npm_tools, "binaryen (wasm-opt)")?;
    if !version_of("wasm-opt").is_some_and(|v| v.split_whitespace().any(|w| w == want)) {
        bail!("wasm-opt on the tools' PATH is not binaryen {want}");
    }
    Ok(())
}

/// Node.js and npm, Debian's, installed when missing.
fn ensure_node_runtime() -> Result<()> {
    if version_of("node").is_none() || version_of("npm").is_none() {
        timed("Node.js and npm", || apt_install(&["nodejs", "npm"]))?;
    }
    Ok(())
}

/// `dir/node_modules` from its lock file (`npm ci`) when missing or older than
/// `package-lock.json`.
fn npm_ci(dir: &Path, what: &str) -> Result<()> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = modified(&dir.join("package-lock.json"))
        .with_context(|| format!("{}/package-lock.json is missing", dir.display()))?;
    // npm ci rewrites node_modules/.package-lock.json on every install.
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    if installed.is_none_or(|installed| installed < lock) {
        timed(what, || {
            sh(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(dir))
        })?;
    }
    Ok(())
}

pub struct Browser {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Debian's Chromium and ChromeDriver, installed when missing.
pub fn ensure_browser() -> Result<Browser> {
    let browser = Browser {
        chromium: PathBuf::from("/usr/bin/chromium"),
        chromedriver: PathBuf::from("/usr/bin/chromedriver"),
    };
    if !browser.chromium.exists() || !browser.chromedriver.exists() {
        timed("Chromium and ChromeDriver", || {
            apt_install(&["chromium", "chromium-driver"])
        })?;
    }
    Ok(browser)
}

/// Node.js and npm and `tests/js`'s modules: the differential test of the character
/// counter runs the official twitter-text there.
pub fn ensure_node(root: &Path) -> Result<()> {
    ensure_node_runtime()?;
    npm_ci(&root.join("tests/js"), "tests/js (twitter-text)")
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` as root: itself when we are root, else through `sudo`.
pub fn as_root(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(program);
        sudo
    }
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        let mut cmd = as_root("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    sh(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(packages);
    sh(&mut install)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn trunk_uses_exactly_the_locked_wasm_bindgen() {
        let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
        let trunk = std::fs::read_to_string(root().join("Trunk.toml")).unwrap();
        let locked = lock_version(&lock, "wasm-bindgen").unwrap();
        assert_eq!(trunk_tool(&trunk, "wasm_bindgen").unwrap(), locked);
        assert!(
            trunk_tool(&trunk, "wasm_opt")
                .unwrap()
                .starts_with("version_")
        );
    }

    #[test]
    fn parses_lock_and_trunk_toml() {
        let lock = "[[package]]\nname = \"wasm-bindgen-macro\"\nversion = \"9\"\n\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.1\"\n";
        assert_eq!(lock_version(lock, "wasm-bindgen").as_deref(), Some("0.2.1"));
        assert_eq!(lock_version(lock, "leptos"), None);
        let t = "[build]\nwasm_bindgen = \"no\"\n[tools]\nwasm_bindgen = \"0.2.1\"   # pinned\nwasm_opt = \"version_108\"\n[serve]\n";
        assert_eq!(trunk_tool(t, "wasm_bindgen").as_deref(), Some("0.2.1"));
        assert_eq!(trunk_tool(t, "wasm_opt").as_deref(), Some("version_108"));
    }
}
