//! Email, when SMTP settings are given (`--smtp-url`): the one-time set-password link of an
//! invited person, through `lettre`. Without them, nothing is emailed and admins pass links
//! on themselves.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Sends mail through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer the settings describe, or `None` without `--smtp-url`.
    pub fn from_settings(
        settings: &crate::config::ServeArgs,
        public_url: &str,
    ) -> anyhow::Result<Option<Mailer>> {
        let Some(url) = settings.smtp_url.as_deref() else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("--smtp-url is not a usable SMTP URL: {e}"))?
            .build();
        let from = match &settings.smtp_from {
            Some(from) => from.clone(),
            None => {
                let host = url::Url::parse(public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "localhost".into());
                format!("SocialConnect <no-reply@{host}>")
            }
        };
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("--smtp-from {from:?} is not a mailbox: {e}"))?;
        Ok(Some(Mailer { transport, from }))
    }

    /// Emails `link` to an invited person. `Err` says why, for the log.
    pub async fn invitation(
        &self,
        to_name: &str,
        to_email: &str,
        brand: &str,
        link: &str,
    ) -> Result<(), String> {
        let to = Mailbox::new(
            Some(to_name.to_owned()),
            to_email.parse().map_err(|e| format!("{to_email}: {e}"))?,
        );
        let body = format!(
            "Hello {to_name},\n\nYou have been invited to answer {brand}'s customers in \
             SocialConnect. Choose your password here (the link works once, for 72 hours):\n\n\
             {link}\n\nIf you did not expect this, ignore this email.\n"
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("Your SocialConnect access for {brand}"))
            .body(body)
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
