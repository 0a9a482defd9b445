//! Moves the loader Trunk writes inline into each built `index.html` (`<script
//! type="module">import init … init(…)</script>`) into a file of its own, so the pages run
//! under a Content-Security-Policy without `'unsafe-inline'` (the server sends
//! `script-src 'self' 'wasm-unsafe-eval'`). Trunk has no option for this (trunk-rs/trunk
//! issue 288).

use anyhow::{Context, Result, bail};
use std::path::Path;

const OPEN: &str = "<script type=\"module\"";
const CLOSE: &str = "</script>";

/// Rewrites `dist/index.html`: each inline module script becomes
/// `<script type="module" src="{public_url}loader-<hash>.js">`, its text that file. The
/// hash is of the content, so the name is safe to cache forever (`web::is_hashed_asset`).
pub fn externalize(dist: &Path, public_url: &str) -> Result<()> {
    let index = dist.join("index.html");
    let html =
        std::fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
    let (out, scripts) = split(&html, public_url)?;
    for (name, code) in &scripts {
        std::fs::write(dist.join(name), code)
            .with_context(|| format!("writing {}", dist.join(name).display()))?;
    }
    std::fs::write(&index, out).with_context(|| format!("writing {}", index.display()))?;
    Ok(())
}

/// The page without inline scripts, and the files that replace them: `(name, code)`.
fn split(html: &str, public_url: &str) -> Result<(String, Vec<(String, String)>)> {
    let mut out = String::with_capacity(html.len());
    let mut files = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let tag_end = rest[start..]
            .find('>')
            .map(|i| start + i + 1)
            .context("an unterminated <script> tag")?;
        let tag = &rest[start..tag_end];
        let body_end = rest[tag_end..]
            .find(CLOSE)
            .map(|i| tag_end + i)
            .context("a <script> without </script>")?;
        let code = &rest[tag_end..body_end];
        if tag.contains(" src=") {
            out.push_str(&rest[start..body_end + CLOSE.len()]);
        } else {
            let name = format!("loader-{:016x}.js", fnv1a(code.as_bytes()));
            out.push_str(&format!(
                "<script type=\"module\" src=\"{public_url}{name}\"></script>"
            ));
            files.push((name, code.trim().to_owned()));
        }
        rest = &rest[body_end + CLOSE.len()..];
    }
    out.push_str(rest);
    if !all_scripts_external(&out) {
        bail!("the built page still has an inline script the policy would block");
    }
    Ok((out, files))
}

/// Every `<script>` of the page names its file.
fn all_scripts_external(html: &str) -> bool {
    html.match_indices("<script").all(|(i, _)| {
        let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
        tag.contains(" src=")
    })
}

/// FNV-1a, 64 bits: a content fingerprint for a file name, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUNK: &str = r#"<!DOCTYPE html><html><head>
<link rel="modulepreload" href="/widget-0123456789abcdef.js" crossorigin="anonymous">
<script type="module" nonce="abc">
import init, * as bindings from '/widget-0123456789abcdef.js';
const wasm = await init({ module_or_path: '/widget-0123456789abcdef_bg.wasm' });
window.wasmBindings = bindings;
</script></head><body></body></html>"#;

    #[test]
    fn the_inline_loader_becomes_a_hashed_file() {
        let (page, files) = split(TRUNK, "/admin/").unwrap();
        assert_eq!(files.len(), 1);
        let (name, code) = &files[0];
        assert!(
            name.starts_with("loader-") && name.ends_with(".js"),
            "{name}"
        );
        assert!(code.starts_with("import init, * as bindings"), "{code}");
        assert!(code.ends_with("window.wasmBindings = bindings;"), "{code}");
        assert!(page.contains(&format!(
            "<script type=\"module\" src=\"/admin/{name}\"></script>"
        )));
        assert!(!page.contains("import init"));
        assert!(page.contains("rel=\"modulepreload\""));
        // The same code gets the same name; other code another.
        assert_eq!(split(TRUNK, "/").unwrap().1[0].0, *name);
        let other = TRUNK.replace("bindings;", "bindings; ");
        assert_ne!(split(&other, "/").unwrap().1[0].0, *name);
    }

    #[test]
    fn external_scripts_stay_and_other_inline_scripts_are_refused() {
        let page = "<script type=\"module\" src=\"/x.js\"></script>";
        assert_eq!(split(page, "/").unwrap(), (page.to_owned(), vec![]));
        assert!(split("<script>alert(1)</script>", "/").is_err());
    }
}
