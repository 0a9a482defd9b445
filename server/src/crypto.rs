//! Encryption at rest for network tokens: XChaCha20-Poly1305 with a 256-bit key from the
//! settings (`SOCIALCONNECT_SECRET_KEY`, base64) or, when unset, a key file created once in
//! the data dir. Every value gets its own random nonce; the stored form is
//! `nonce (24 bytes) || ciphertext`. The database keeps the key's fingerprint, so an
//! instance given another key refuses to start ([`check_key`]).

use crate::store::prelude::*;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use shared::Channel;
use std::path::Path;

const NONCE_LEN: usize = 24;
pub const KEY_FILE: &str = "secret.key";

#[derive(Clone)]
pub struct TokenCipher {
    cipher: XChaCha20Poly1305,
    /// HMAC key for signed URLs, derived from the secret key so the encryption key itself
    /// is never used for anything but encryption.
    url_key: [u8; 32],
    /// Names the key without revealing it (see [`TokenCipher::fingerprint`]).
    fingerprint: String,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(<key>)")
    }
}

impl TokenCipher {
    pub fn from_key(key: &[u8]) -> anyhow::Result<Self> {
        if key.len() != 32 {
            bail!("the secret key must be 32 bytes (base64 of 32 random bytes)");
        }
        use hmac::{Hmac, Mac};
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        Ok(TokenCipher {
            cipher: XChaCha20Poly1305::new(Key::from_slice(key)),
            url_key: derive(b"socialconnect signed media urls v1"),
            fingerprint: hex::encode(derive(b"socialconnect key fingerprint v1")),
        })
    }

    /// The key from `configured` (base64), else from `data_dir/secret.key`, creating that
    /// file (mode 0600) with a fresh key the first time.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(b64) = configured {
            let key = B64
                .decode(b64.trim())
                .context("SOCIALCONNECT_SECRET_KEY is not base64")?;
            return Self::from_key(&key);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = B64
                    .decode(text.trim())
                    .with_context(|| format!("{} is not base64", path.display()))?;
                Self::from_key(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir)?;
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                write_private(&path, B64.encode(key).as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "created a new secret key for tokens");
                Self::from_key(&key)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plaintext.as_bytes())
                .expect("XChaCha20-Poly1305 encryption does not fail for in-memory data"),
        );
        out
    }

    /// Hex HMAC-SHA256 of a fixed label under the key: the same for the same key on every
    /// instance, and telling nothing of the key (nor of the URL-signing key).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Hex HMAC-SHA256 of `message` with the URL-signing key.
    pub fn sign(&self, message: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.url_key).expect("any key length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is [`sign`](Self::sign)`(message)`, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.sign(message).as_bytes().ct_eq(signature.as_bytes()))
    }

    pub fn open(&self, sealed: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < NONCE_LEN {
            bail!("sealed token too short");
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| anyhow::anyhow!("token does not decrypt with this key"))?;
        Ok(String::from_utf8(plain)?)
    }
}

/// Refuses a key other than the one this database's tokens are sealed with, which would
/// open none of them (every page and account would turn `token_invalid` at its first
/// send). The database keeps the key's fingerprint from the first start; a database from
/// before fingerprints records it at its first start, once a token it holds opens with
/// this key (or it holds none). `source` names where the key came from, for the message.
pub async fn check_key(
    store: &dyn Store,
    cipher: &TokenCipher,
    source: &str,
) -> anyhow::Result<()> {
    let mismatch = |why: String| {
        anyhow::anyhow!(
            "{source} does not match the key this database's tokens were sealed with ({why}); \
             set the same SOCIALCONNECT_SECRET_KEY on every instance"
        )
    };
    let mine = cipher.fingerprint();
    if !store.has_key_fingerprint().await? {
        let mut sealed = Vec::new();
        for channel in [Channel::Facebook, Channel::Twitter] {
            sealed.extend(
                store
                    .linked_accounts(channel)
                    .await?
                    .into_iter()
                    .map(|l| l.token_sealed),
            );
        }
        if !sealed.is_empty() && !sealed.iter().any(|t| cipher.open(t).is_ok()) {
            return Err(mismatch(format!(
                "none of its {} tokens opens with this one, fingerprint {}",
                sealed.len(),
                &mine[..16]
            )));
        }
    }
    let recorded = store
        .key_fingerprint(mine, crate::auth::now_secs() * 1000)
        .await?;
    if recorded != mine {
        return Err(mismatch(format!(
            "fingerprint {}, this key's {}",
            &recorded[..recorded.len().min(16)],
            &mine[..16]
        )));
    }
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_fresh_nonces() {
        let c = TokenCipher::from_key(&[7u8; 32]).unwrap();
        let a = c.seal("EAAB-page-token");
        let b = c.seal("EAAB-page-token");
        assert_ne!(a, b, "nonces repeat");
        assert!(!a.windows(4).any(|w| w == b"EAAB"), "plaintext visible");
        assert_eq!(c.open(&a).unwrap(), "EAAB-page-token");
        let other = TokenCipher::from_key(&[8u8; 32]).unwrap();
        assert!(other.open(&a).is_err());
        let mut tampered = a.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.open(&tampered).is_err());
    }

    #[test]
    fn the_fingerprint_names_the_key_and_nothing_else() {
        let a = TokenCipher::from_key(&[7u8; 32]).unwrap();
        let again = TokenCipher::from_key(&[7u8; 32]).unwrap();
        let b = TokenCipher::from_key(&[8u8; 32]).unwrap();
        assert_eq!(a.fingerprint(), again.fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        assert!(!a.fingerprint().contains(&hex::encode([7u8; 32])));
        assert_ne!(a.fingerprint(), hex::encode(a.url_key));
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = TokenCipher::load(None, dir.path()).unwrap();
        let sealed = first.seal("t");
        let again = TokenCipher::load(None, dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "t");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(TokenCipher::load(Some("c2hvcnQ="), dir.path()).is_err());
    }
}
