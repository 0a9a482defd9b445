//! Public-to-private links: the URL an agent puts in a public reply so the consumer can
//! continue in private.

/// The Twitter/X Direct Message compose link for a brand account's numeric id.
pub fn twitter_dm_link(account_id: u64) -> String {
    format!("https://twitter.com/messages/compose?recipient_id={account_id}")
}

/// The Messenger link for a page's username, `None` when the name cannot be a page
/// username (page usernames are letters, digits and dots; PRODUCT.md gives the form).
pub fn messenger_link(page_name: &str) -> Option<String> {
    let valid = !page_name.is_empty()
        && page_name.len() <= 50
        && page_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.');
    valid.then(|| format!("https://m.me/{page_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twitter_link_uses_the_numeric_id() {
        assert_eq!(
            twitter_dm_link(783214),
            "https://twitter.com/messages/compose?recipient_id=783214"
        );
    }

    #[test]
    fn messenger_link_takes_only_page_usernames() {
        assert_eq!(
            messenger_link("AcmeSupport").as_deref(),
            Some("https://m.me/AcmeSupport")
        );
        assert_eq!(
            messenger_link("acme.help").as_deref(),
            Some("https://m.me/acme.help")
        );
        assert_eq!(messenger_link(""), None);
        assert_eq!(messenger_link("a/../evil"), None);
        assert_eq!(messenger_link("acme support"), None);
    }
}
