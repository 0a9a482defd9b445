//! Which images a reply may carry and how large, per reply target: the widget checks a
//! chosen file by these before uploading it, and the server refuses a reply by them, so an
//! agent is never told one limit and held to another.
//!
//! The networks' published limits (PLATFORMS.md): X images 5 MB and GIFs 15 MB; Messenger
//! attachments 25 MB (the server uploads the image with the message); images a network
//! fetches by URL 8 MB, which applies to a Facebook comment's or post's `attachment_url`
//! (Meta publishes no figure of its own for them). JPEG, PNG, GIF and WEBP on both. No
//! target takes more than the server stores ([`UPLOAD_MAX_BYTES`]). A "MB" here is a MiB.

use crate::Target;

const MB: u64 = 1024 * 1024;

/// The most the server stores for one image or GIF: X's GIF limit, the largest of the
/// targets' but Messenger's 25 MB.
pub const UPLOAD_MAX_BYTES: u64 = 15 * MB;

/// The image types agents may send.
pub const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// The accepted type `mime` names (`image/jpg` is JPEG), or `None` when it is not one.
pub fn image_type(mime: &str) -> Option<&'static str> {
    let mime = if mime == "image/jpg" {
        "image/jpeg"
    } else {
        mime
    };
    IMAGE_TYPES.into_iter().find(|t| *t == mime)
}

/// The network's own limit for an image of type `mime` sent to `target`.
fn network_limit(target: Target, mime: &str) -> u64 {
    match target {
        Target::TwitterPublic | Target::TwitterDm if mime == "image/gif" => 15 * MB,
        Target::TwitterPublic | Target::TwitterDm => 5 * MB,
        Target::Messenger => 25 * MB,
        Target::FacebookComment | Target::FacebookPost => 8 * MB,
    }
}

/// The most bytes an image of type `mime` may have to go to `target`.
pub fn image_limit(target: Target, mime: &str) -> u64 {
    let mime = image_type(mime).unwrap_or(mime);
    network_limit(target, mime).min(UPLOAD_MAX_BYTES)
}

/// Why an image of this type and size cannot go to `target`; `None` when it can.
pub fn image_refusal(target: Target, mime: &str, bytes: u64) -> Option<String> {
    let Some(mime) = image_type(mime) else {
        let shown = if mime.is_empty() { "this file" } else { mime };
        return Some(format!(
            "{shown} cannot be sent on a {}: JPEG, PNG, GIF or WEBP only",
            target.label()
        ));
    };
    let limit = image_limit(target, mime);
    let what = if mime == "image/gif" { "GIF" } else { "image" };
    // Tenths of a MB in integers, rounded up (no float formatting in the widget's code):
    // a byte over 5 MB reads 5.1, never "5.0 MB, over the 5 MB limit".
    let tenths = (bytes * 10).div_ceil(MB);
    (bytes > limit).then(|| {
        format!(
            "the {what} is {}.{} MB, over the {} MB limit for a {}",
            tenths / 10,
            tenths % 10,
            limit / MB,
            target.label()
        )
    })
}

/// The limits of `target` in a sentence, for the agent choosing an image.
pub fn image_hint(target: Target) -> String {
    let image = image_limit(target, "image/png") / MB;
    let gif = image_limit(target, "image/gif") / MB;
    if image == gif {
        format!("JPEG, PNG, GIF or WEBP, up to {image} MB.")
    } else {
        format!("JPEG, PNG, GIF or WEBP; images up to {image} MB, GIFs up to {gif} MB.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::reply_target;
    use crate::{Channel, ReplyMode};

    #[test]
    fn each_target_has_its_networks_limit_within_what_is_stored() {
        let limit = |t, mime| image_limit(t, mime) / MB;
        assert_eq!(limit(Target::TwitterPublic, "image/png"), 5);
        assert_eq!(limit(Target::TwitterDm, "image/jpg"), 5);
        assert_eq!(limit(Target::TwitterDm, "image/gif"), 15);
        // Messenger takes 25 MB, but the server stores at most 15.
        assert_eq!(limit(Target::Messenger, "image/webp"), 15);
        // What Facebook fetches by URL: 8 MB.
        assert_eq!(limit(Target::FacebookComment, "image/jpeg"), 8);
        assert_eq!(limit(Target::FacebookPost, "image/gif"), 8);
        assert!(
            Target::ALL
                .into_iter()
                .all(|t| image_limit(t, "image/gif") <= UPLOAD_MAX_BYTES)
        );
    }

    #[test]
    fn a_public_facebook_reply_takes_at_most_8_mb() {
        // The widget once allowed 15 MB on Facebook whatever the mode; a comment's image
        // goes by URL, which Facebook takes up to 8 MB.
        let comment = reply_target(Channel::Facebook, ReplyMode::Public);
        assert!(image_refusal(comment, "image/jpeg", 8 * MB).is_none());
        assert_eq!(
            image_refusal(comment, "image/jpeg", 15 * MB).as_deref(),
            Some("the image is 15.0 MB, over the 8 MB limit for a Facebook comment")
        );
        for mode in [ReplyMode::Private, ReplyMode::PrivateResponse] {
            let messenger = reply_target(Channel::Facebook, mode);
            assert!(image_refusal(messenger, "image/jpeg", 15 * MB).is_none());
            assert!(image_refusal(messenger, "image/jpeg", 15 * MB + 1).is_some());
        }
    }

    #[test]
    fn refusals_say_what_and_how_large() {
        let dm = Target::TwitterDm;
        assert!(image_refusal(dm, "image/png", 5 * MB).is_none());
        assert!(image_refusal(dm, "image/gif", 15 * MB).is_none());
        // Sizes read in tenths, rounded up: exactly 6 MB is 6.0, a byte more is 6.1.
        assert_eq!(
            image_refusal(dm, "image/png", 6 * MB).as_deref(),
            Some("the image is 6.0 MB, over the 5 MB limit for a Direct Message")
        );
        assert!(
            image_refusal(dm, "image/png", 6 * MB + 1)
                .unwrap()
                .starts_with("the image is 6.1 MB")
        );
        assert!(
            image_refusal(dm, "image/gif", 16 * MB)
                .unwrap()
                .starts_with("the GIF is 16.0 MB, over the 15 MB limit")
        );
        assert_eq!(
            image_refusal(Target::Messenger, "application/pdf", 10).as_deref(),
            Some("application/pdf cannot be sent on a Messenger: JPEG, PNG, GIF or WEBP only")
        );
        assert!(
            image_refusal(Target::Messenger, "", 10)
                .unwrap()
                .starts_with("this file cannot be sent")
        );
    }

    #[test]
    fn hints_state_the_limits_applied() {
        assert_eq!(
            image_hint(Target::TwitterPublic),
            "JPEG, PNG, GIF or WEBP; images up to 5 MB, GIFs up to 15 MB."
        );
        assert_eq!(
            image_hint(Target::FacebookComment),
            "JPEG, PNG, GIF or WEBP, up to 8 MB."
        );
        assert_eq!(
            image_hint(Target::Messenger),
            "JPEG, PNG, GIF or WEBP, up to 15 MB."
        );
        assert_eq!(image_type("image/jpg"), Some("image/jpeg"));
        assert_eq!(image_type("image/svg+xml"), None);
    }
}
