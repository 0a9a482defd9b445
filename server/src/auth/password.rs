//! Choosing a password: the policy a person can understand (long enough, not their email,
//! not a common password), the one-time links through which invited people choose theirs,
//! and `POST /api/password`, which redeems a link and signs its person in.

use super::{random_token, start_session, token_hash};
use crate::AppState;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::prelude::*;
use crate::store::{NewPerson, PasswordLink, StoreError, User};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use shared::api::{ChangePassword, PASSWORD_MIN_CHARS, SET_PASSWORD_PATH, SetPassword};
use shared::home::SET_PASSWORD_HOURS;
use shared::{ErrorCode, Role};
use zxcvbn::matching::patterns::MatchPattern;

/// The common passwords refused: the most frequent of zxcvbn's list of leaked passwords.
const COMMON_RANK: usize = 10_000;
/// Longer passwords are not checked against the list (and argon2 gets no more than this).
const MAX_CHARS: usize = 256;

/// Why `password` is not acceptable for the person with `email`, in words for them.
pub fn check(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(format!(
            "Use at least {PASSWORD_MIN_CHARS} characters (this one has {chars})."
        ));
    }
    if chars > MAX_CHARS {
        return Err(format!("Use at most {MAX_CHARS} characters."));
    }
    let lower = password.to_lowercase();
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (local.len() >= 4 && lower.contains(local)) {
        return Err("Do not use your email address in your password.".into());
    }
    if is_common(password) {
        return Err("That is one of the 10,000 most common passwords; choose another.".into());
    }
    Ok(())
}

/// Whether the whole password is one of the [`COMMON_RANK`] most common (case aside).
fn is_common(password: &str) -> bool {
    let estimate = zxcvbn::zxcvbn(password, &[]);
    match estimate.sequence() {
        [only] if only.token.chars().count() == password.chars().count() => {
            matches!(
                &only.pattern,
                MatchPattern::Dictionary(d)
                    // The crate names its dictionaries with a type it does not export.
                    if format!("{:?}", d.dictionary_name) == "Passwords"
                        && d.rank <= COMMON_RANK
                        && !d.l33t
                        && !d.reversed
            )
        }
        _ => false,
    }
}

/// A new one-time link: its token's hash to store, and the URL to hand over.
pub struct NewLink {
    pub token_hash: String,
    pub url: String,
    pub now: i64,
    pub expires_at: i64,
}

impl NewLink {
    pub fn new(public_url: &str) -> NewLink {
        let token = random_token();
        let now = super::now_secs();
        NewLink {
            token_hash: token_hash(&token),
            url: format!(
                "{}{SET_PASSWORD_PATH}?token={token}",
                public_url.trim_end_matches('/')
            ),
            now,
            expires_at: now + SET_PASSWORD_HOURS * 3600,
        }
    }

    pub fn stored(&self) -> PasswordLink<'_> {
        PasswordLink {
            token_hash: &self.token_hash,
            now: self.now,
            expires_at: self.expires_at,
        }
    }
}

/// Checks an email address as far as a form can: one `@`, something on each side, a dot
/// in the domain, no spaces.
pub fn check_email(email: &str) -> Result<(), String> {
    let bad = || format!("{email:?} is not an email address");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(()).ok_or_else(bad)
}

/// Creates an invited person with their set-password link (Home's Invite, `users add`).
/// Refuses a bad email or name, and an email already taken in that account.
pub async fn invite(
    store: &dyn Store,
    public_url: &str,
    person: NewPerson<'_>,
) -> Result<(User, String), StoreError> {
    check_email(person.email).map_err(StoreError::Conflict)?;
    if person.name.trim().is_empty() || person.name.chars().count() > 100 {
        return Err(StoreError::Conflict(
            "give a name of 1 to 100 characters".into(),
        ));
    }
    if (person.role == Role::Support) != matches!(person.of, crate::store::PeopleOf::Support) {
        return Err(StoreError::Conflict(
            "support staff belong to no account; a brand's people are admins or agents".into(),
        ));
    }
    let link = NewLink::new(public_url);
    let user = store.invite(person, link.stored()).await?.ok_or_else(|| {
        StoreError::Conflict(format!(
            "{} is already a person of this account",
            person.email
        ))
    })?;
    Ok((user, link.url))
}

/// `POST /api/password {token, password}`: the link's person chooses their password and is
/// signed in. A used, expired or unknown link is 410; a password the policy refuses, 400.
pub async fn set_password(
    State(state): State<AppState>,
    jar: CookieJar,
    ApiJson(req): ApiJson<SetPassword>,
) -> AppResult<Response> {
    let gone = || {
        AppError::new(
            ErrorCode::Gone,
            "This link has expired or was already used; ask your admin for a new one.",
        )
    };
    let hash = token_hash(req.token.trim());
    let now = super::now_secs();
    let user = state
        .store
        .password_link_user(&hash, now)
        .await?
        .ok_or_else(gone)?;
    check(&req.password, &user.email).map_err(AppError::bad_request)?;
    let password_hash = super::hash_password(req.password).await?;
    let user = state
        .store
        .redeem_password_link(&hash, now, &password_hash)
        .await?
        .ok_or_else(gone)?;
    tracing::info!(user = user.id, "password chosen through a one-time link");
    let account = match user.account_id {
        Some(id) => state.store.account_by_id(id).await?,
        None => None,
    };
    start_session(&state, jar, user, account).await
}

/// `PUT /api/session/password {current_password, new_password}`: the current password
/// checked, the new one held to the policy; every other session of theirs ends.
pub async fn change_password(
    State(state): State<AppState>,
    jar: CookieJar,
    session: super::Session,
    ApiJson(req): ApiJson<ChangePassword>,
) -> AppResult<StatusCode> {
    let user = &session.0.user;
    let stored = state
        .store
        .credentials(user.account_id, &user.email)
        .await?
        .map(|c| c.password_hash);
    if !super::verify_password(req.current_password, stored).await {
        // 400, not 401: the session is fine, and pages take a 401 for "signed out".
        return Err(AppError::bad_request("that is not your current password"));
    }
    check(&req.new_password, &user.email).map_err(AppError::bad_request)?;
    let hash = super::hash_password(req.new_password).await?;
    let keep = jar
        .get(super::SESSION_COOKIE)
        .map(|c| token_hash(c.value()));
    state
        .store
        .change_password(user.id, &hash, keep.as_deref())
        .await?;
    state.live.signed_out(user.id);
    tracing::info!(user = user.id, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_says_which_rule_a_password_breaks() {
        let email = "ann.lee@brand.example";
        assert!(check("correct horse battery", email).is_ok());
        assert!(check("short", email).unwrap_err().contains("at least 12"));
        assert!(
            check("Ann.Lee@Brand.example", email)
                .unwrap_err()
                .contains("email")
        );
        assert!(
            check("my ann.lee secret", email)
                .unwrap_err()
                .contains("email")
        );
        // Of the 10,000 most common, those of 12 characters or more (case aside).
        for common in [
            "123qweasdzxc",
            "qwerty123456",
            "LeaveMeAlone",
            "1q2w3e4r5t6y",
        ] {
            let err = check(common, email).err();
            assert!(err.is_some_and(|e| e.contains("common")), "{common}");
        }
        // A common word inside a longer, unusual password is fine.
        assert!(check("password and more words", email).is_ok());
    }

    #[test]
    fn emails_are_checked_as_far_as_a_form_can() {
        for ok in ["a@b.example", "ann.lee+cx@brand.co.uk"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ann",
            "ann@",
            "@b.example",
            "a@b",
            "a b@c.example",
            "a@b.example.",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_hold_only_a_hash_of_their_token() {
        let link = NewLink::new("https://sc.example/");
        let token = link.url.split("token=").nth(1).unwrap();
        assert!(
            link.url
                .starts_with("https://sc.example/set-password?token=")
        );
        assert_eq!(link.token_hash, token_hash(token));
        assert_ne!(link.token_hash, token);
        assert_eq!(link.expires_at - link.now, 72 * 3600);
    }
}
