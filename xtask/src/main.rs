//! `cargo xtask`: the project's automation, with few dependencies.
//!
//! - `cargo xtask demo` — install what is missing, build the widget in release and run
//!   `socialconnect serve --demo`.
//! - `cargo xtask test` — install what is missing (Chromium and ChromeDriver, Node.js and
//!   `tests/js`'s twitter-text too) and run every test: native, wasm in headless Chromium,
//!   browser end to end, and the character counter against twitter-text.
//! - `cargo xtask widget` — build the widget in release and print its transfer size.
//! - `cargo xtask budgets` — the SPA's budgets in headless Chromium, printed: transfer
//!   size, navigation → interactive transcript against a minimal Leptos page, and the
//!   Character Counter per keystroke against the official twitter-text.
//! - `cargo xtask setup [--browser]` — only install what is missing (Node.js and
//!   `tests/js`'s modules included, and moto's local S3 server through pip).
//! - `cargo xtask services` — only make ready the services the PostgreSQL and S3 tests
//!   need (`services.rs`), for running those tests with plain `cargo test`.

mod loader;
mod services;
mod size;
mod tools;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask <demo [--release] [-- SERVE-ARGS…] | test | widget | budgets | setup [--browser] | services>";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let root = project_root();
    std::env::set_current_dir(&root)?;
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r))
        .unwrap_or(("", &[]));
    match cmd {
        "demo" => demo(&root, rest),
        "test" => test(&root),
        "widget" => {
            tools::ensure_wasm_tools(&root)?;
            build_widget(&root)
        }
        "budgets" => budgets(&root),
        "setup" => {
            tools::ensure_wasm_tools(&root)?;
            tools::ensure_node(&root)?;
            services::ensure_moto()?;
            if rest.iter().any(|a| a == "--browser") {
                tools::ensure_browser()?;
            }
            Ok(())
        }
        "services" => services::ensure_postgres(&services::database_url())
            .and_then(|()| services::ensure_moto()),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

/// The workspace root. `cargo run` tells the binary where its manifest is at run time;
/// the compile-time path is only a fallback, because one build directory can serve
/// several clones (CI's and a developer's) and the last one built wins.
fn project_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `PATH` with `xtask/npm`'s binaries (binaryen's wasm-opt) and Cargo's bin directory
/// first, so the tools installed there win over older copies elsewhere (Debian's
/// wasm-opt, say).
pub fn tool_path() -> std::ffi::OsString {
    let npm_bin = project_root().join("xtask/npm/node_modules/.bin");
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(npm_bin)
        .chain(cargo_bin)
        .chain(std::env::split_paths(&rest));
    std::env::join_paths(dirs).unwrap_or(rest)
}

/// Runs a command (with [`tool_path`]), failing with its command line when it fails.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    cmd.env("PATH", tool_path());
    println!("xtask> {shown}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Both bundles of the SPA (`shared::bundles`) with `trunk build --release --offline`: the
/// agent's from `index.html` into `dist/`, then the admin's from `admin.html` into
/// `dist/admin/` (in this order: Trunk empties its dist directory first); then the
/// transfer size of what a browser downloads for each.
fn build_widget(root: &Path) -> Result<()> {
    sh(Command::new("trunk")
        .args(["build", "--release", "--offline"])
        .current_dir(root))?;
    loader::externalize(&root.join("dist"), "/")?;
    let admin_url = shared::bundles::ADMIN_ASSETS;
    let admin_dir = root.join("dist").join(shared::bundles::ADMIN_DIR);
    sh(Command::new("trunk")
        .args([
            "build",
            "admin.html",
            "--release",
            "--offline",
            "--public-url",
            admin_url,
        ])
        .arg("--dist")
        .arg(&admin_dir)
        .current_dir(root))?;
    loader::externalize(&admin_dir, admin_url)?;
    println!(
        "transfer size (gzip) of the agent's bundle (index.html: start page, sign-in, workspace, Social Widget):"
    );
    print!("{}", size::measure(&root.join("dist"))?);
    println!(
        "transfer size (gzip) of the admin's bundle (admin.html: SocialConnect Home, onboarding, support):"
    );
    print!("{}", size::measure(&admin_dir)?);
    Ok(())
}

/// Builds the widget (printing its transfer size), the minimal Leptos page it is timed
/// against (`tests/baseline`, with the same Trunk settings) and the browser bundle of
/// twitter-text, then runs `tests/src/bin/budgets.rs`, which prints the ratios.
fn budgets(root: &Path) -> Result<()> {
    tools::ensure_wasm_tools(root)?;
    tools::ensure_node(root)?;
    let browser = tools::ensure_browser()?;
    build_widget(root)?;
    let baseline = target_dir(root).join("budget-baseline");
    sh(Command::new("trunk")
        .args(["build", "--release", "--offline", "--dist"])
        .arg(&baseline)
        .arg("tests/baseline/index.html")
        .current_dir(root))?;
    loader::externalize(&baseline, "/")?;
    let floor = size::measure(&baseline)?.total_gzip() as f64 / 1024.0;
    println!("minimal Leptos page, built the same way: {floor:.1} KB gzip (the framework's floor)");
    let js = root.join("tests/js");
    sh(Command::new("npm")
        .args(["run", "--silent", "bundle", "--prefix"])
        .arg(&js))?;
    sh(cargo()
        .args(["run", "--package", "e2e", "--bin", "budgets"])
        .env("BUDGET_BASELINE_DIR", &baseline)
        .env("TWITTER_TEXT_JS", js.join("dist/twitter-text.js"))
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("SOCIALCONNECT_WIDGET_DIR", root.join("dist")))
}

fn demo(root: &Path, rest: &[String]) -> Result<()> {
    let release = rest.first().is_some_and(|a| a == "--release");
    let serve_args: Vec<&String> = rest.iter().skip_while(|a| *a != "--").skip(1).collect();
    tools::ensure_wasm_tools(root)?;
    build_widget(root)?;
    let mut build = cargo();
    build.args(["build", "--package", "server", "--bin", "socialconnect"]);
    if release {
        build.arg("--release");
    }
    sh(&mut build)?;
    let bin = target_dir(root)
        .join(if release { "release" } else { "debug" })
        .join("socialconnect");
    let mut serve = Command::new(bin);
    serve
        .args(["serve", "--demo"])
        .args(serve_args)
        .env("SOCIALCONNECT_WIDGET_DIR", root.join("dist"));
    if std::env::var_os("SOCIALCONNECT_DATA_DIR").is_none() {
        serve.env("SOCIALCONNECT_DATA_DIR", root.join("data"));
    }
    sh(&mut serve)
}

fn test(root: &Path) -> Result<()> {
    tools::ensure_wasm_tools(root)?;
    tools::ensure_node(root)?;
    let browser = tools::ensure_browser()?;
    // The storage suite, the scale-out and the object-storage tests also run on PostgreSQL
    // (a fresh database per test, dropped after), the last against moto's S3 server.
    let postgres = services::database_url();
    services::ensure_postgres(&postgres)?;
    services::ensure_moto()?;
    println!("xtask: PostgreSQL tests on {postgres}");

    // Native: unit and integration tests of every host crate.
    sh(cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "widget",
            "--exclude",
            "baseline",
            "--exclude",
            "e2e",
        ])
        .env(services::DATABASE_VAR, postgres))?;

    // The widget in release, as it ships; the browser tests load this build.
    build_widget(root)?;

    // Wasm: the widget's DOM tests in headless Chromium.
    sh(cargo()
        .args([
            "test",
            "--package",
            "widget",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;

    // End to end: the real server and the built widget driven through WebDriver; and
    // the character counter against the official twitter-text through Node.js.
    sh(cargo()
        .args(["test", "--package", "e2e"])
        .env("CHROMEDRIVER", &browser.chromedriver)
        .env("SOCIALCONNECT_WIDGET_DIR", root.join("dist")))?;
    Ok(())
}
