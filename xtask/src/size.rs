//! A bundle's transfer size: what a browser downloads (wasm + js + css), gzipped.

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fmt;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SizeReport {
    /// (file name, raw bytes, gzip bytes), sorted by name.
    pub files: Vec<(String, u64, u64)>,
}

impl SizeReport {
    pub fn total_gzip(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }
    pub fn total_raw(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

/// Issue #8's budget for what one page load of the SPA downloads, gzipped.
pub const BUDGET_KB: f64 = 250.0;

pub fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len() as u64)
}

pub fn measure(dist: &Path) -> Result<SizeReport> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let path = entry?.path();
        let counted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "wasm" | "js" | "css"));
        if counted {
            let bytes = std::fs::read(&path)?;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.push((name, bytes.len() as u64, gzip_len(&bytes)?));
        }
    }
    files.sort();
    Ok(SizeReport { files })
}

impl fmt::Display for SizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, raw, gz) in &self.files {
            writeln!(
                f,
                "  {name:<48} {:>8.1} KB  ({:.1} KB raw)",
                *gz as f64 / 1024.0,
                *raw as f64 / 1024.0
            )?;
        }
        let total = self.total_gzip() as f64 / 1024.0;
        writeln!(
            f,
            "  {:<48} {total:>8.1} KB  ({:.1} KB raw)  budget {BUDGET_KB:.0} KB: {}",
            "total (wasm + js + css)",
            self.total_raw() as f64 / 1024.0,
            if total <= BUDGET_KB { "within" } else { "OVER" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_what_the_browser_downloads_for_the_app() {
        let dir = std::env::temp_dir().join(format!("xtask-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.wasm"), vec![0u8; 10_000]).unwrap();
        std::fs::write(dir.join("a.js"), "x".repeat(500)).unwrap();
        std::fs::write(dir.join("index.html"), "ignored").unwrap();
        let r = measure(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.total_raw(), 10_500);
        assert!(r.total_gzip() < 200, "zeros compress: {}", r.total_gzip());
        assert!(r.to_string().contains("total (wasm + js + css)"));
    }
}
