//! Where stored files live — media copies and their derivatives, uploads: under the data
//! dir (the default), or in S3-compatible object storage that every instance shares
//! (`SOCIALCONNECT_MEDIA_STORE=s3://bucket/prefix`). Paths are ours ("media/…",
//! "uploads/…"), relative to the data dir or the bucket's prefix, never the network's.

use crate::config::MediaStoreArgs;
use anyhow::{Context, anyhow};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeFile;

#[derive(Clone)]
pub enum Blobs {
    Dir(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        /// Where files are made before they are stored (the data dir).
        staging: PathBuf,
    },
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blobs::Dir(d) => write!(f, "Blobs::Dir({})", d.display()),
            Blobs::Object { prefix, .. } => write!(f, "Blobs::Object({prefix})"),
        }
    }
}

impl Blobs {
    /// The files under `data_dir`, or in the object store the settings name.
    pub fn from_settings(args: &MediaStoreArgs, data_dir: &Path) -> anyhow::Result<Blobs> {
        let Some(url) = &args.media_store else {
            return Ok(Blobs::Dir(data_dir.to_path_buf()));
        };
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            anyhow!("SOCIALCONNECT_MEDIA_STORE must be an s3://BUCKET[/PREFIX] URL")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            anyhow::bail!("SOCIALCONNECT_MEDIA_STORE names no bucket");
        }
        let mut s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&args.s3_region);
        if let Some(endpoint) = &args.s3_endpoint {
            s3 = s3
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&args.s3_access_key_id, &args.s3_secret_access_key) {
            s3 = s3.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = s3.build().context("SOCIALCONNECT_MEDIA_STORE")?;
        Ok(Blobs::Object {
            store: Arc::new(store),
            prefix: prefix.trim_matches('/').to_owned(),
            staging: data_dir.to_path_buf(),
        })
    }

    fn key(prefix: &str, rel: &str) -> anyhow::Result<Key> {
        let full = if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        };
        Key::parse(&full).map_err(|e| anyhow!("stored path {rel:?}: {e}"))
    }

    pub async fn write(&self, rel: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Blobs::Dir(dir) => {
                let path = dir.join(rel);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::write(&path, bytes)
                    .await
                    .with_context(|| format!("writing {}", path.display()))
            }
            Blobs::Object { store, prefix, .. } => {
                store
                    .put(&Self::key(prefix, rel)?, bytes.into())
                    .await
                    .with_context(|| format!("storing {rel}"))?;
                Ok(())
            }
        }
    }

    pub async fn read(&self, rel: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Blobs::Dir(dir) => Ok(tokio::fs::read(dir.join(rel)).await?),
            Blobs::Object { store, prefix, .. } => Ok(store
                .get(&Self::key(prefix, rel)?)
                .await?
                .bytes()
                .await?
                .to_vec()),
        }
    }

    /// A file made under the data dir goes where files live: it stays there, or it is
    /// stored in the object store and leaves the data dir.
    pub async fn publish(&self, rel: &str) -> anyhow::Result<()> {
        let Blobs::Object { staging, .. } = self else {
            return Ok(());
        };
        let local = staging.join(rel);
        let bytes = tokio::fs::read(&local)
            .await
            .with_context(|| format!("reading {}", local.display()))?;
        self.write(rel, bytes).await?;
        let _ = tokio::fs::remove_file(&local).await;
        Ok(())
    }

    /// Serves a stored file, a single byte range when asked; `None` when it is missing.
    pub async fn response(&self, rel: &str, req: Request) -> anyhow::Result<Option<Response>> {
        match self {
            Blobs::Dir(dir) => {
                let file = dir.join(rel);
                let res = ServeFile::new(&file)
                    .oneshot(req)
                    .await
                    .map_err(|e| anyhow!("serving {}: {e}", file.display()))?;
                Ok((res.status() != StatusCode::NOT_FOUND).then(|| res.map(Body::new)))
            }
            Blobs::Object { store, prefix, .. } => {
                let key = Self::key(prefix, rel)?;
                let size = match store.head(&key).await {
                    Ok(meta) => meta.size,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let range = req
                    .headers()
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .map(|r| byte_range(r, size));
                let mut res = Response::builder().header(header::ACCEPT_RANGES, "bytes");
                let body = match range {
                    Some(None) => {
                        return Ok(Some(
                            Response::builder()
                                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                                .body(Body::empty())?,
                        ));
                    }
                    Some(Some((start, end))) => {
                        res = res.status(StatusCode::PARTIAL_CONTENT).header(
                            header::CONTENT_RANGE,
                            format!("bytes {start}-{}/{size}", end - 1),
                        );
                        store.get_range(&key, start..end).await?
                    }
                    None => store.get(&key).await?.bytes().await?,
                };
                res = res.header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                Ok(Some(res.body(Body::from(body))?))
            }
        }
    }
}

/// One `bytes=` range of a `size`-byte file as `start..end`; `None` when it cannot be met.
/// Several ranges are answered with the first.
fn byte_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.checked_sub(n.min(size))?, size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_read_as_http_says() {
        assert_eq!(byte_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(byte_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(byte_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(byte_range("bytes=50-500", 100), Some((50, 100)));
        assert_eq!(byte_range("bytes=0-1, 5-6", 100), Some((0, 2)));
        assert_eq!(byte_range("bytes=100-", 100), None);
        assert_eq!(byte_range("bytes=9-2", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
    }
}
