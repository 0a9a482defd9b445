//! Who may call a handler, as extractors: a handler takes the role it serves ([`BrandUser`],
//! [`BrandAdmin`], [`Support`], [`BrandOrSupport`]; [`Session`] for anyone signed in).
//! Each first extracts the [`Session`] (401 without one, 403 without the CSRF header on a
//! state-changing request), then refuses any other role with 403.
//!
//! The database holds every user to "support staff belong to no brand account, everyone
//! else to one", so a role is the user's role together with their account.

use super::Session;
use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{Account, SessionRecord, User};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use shared::Role;
use std::ops::Deref;

/// An admin or agent of a brand account, signed in: may work that account's
/// conversations.
#[derive(Debug, Clone)]
pub struct BrandUser {
    pub user: User,
    pub account: Account,
    /// The session's CSRF token, which only this browser session knows.
    pub csrf_token: String,
}

impl BrandUser {
    fn of(record: SessionRecord) -> Option<Self> {
        match (record.user.role, record.account) {
            (Role::Admin | Role::Agent, Some(account)) => Some(BrandUser {
                user: record.user,
                account,
                csrf_token: record.csrf_token,
            }),
            _ => None,
        }
    }

    pub fn is_agent(&self) -> bool {
        self.user.role == Role::Agent
    }
}

/// An admin of a brand account, signed in: may run SocialConnect Home and automation.
#[derive(Debug, Clone)]
pub struct BrandAdmin(BrandUser);

impl BrandAdmin {
    fn of(record: SessionRecord) -> Option<Self> {
        BrandUser::of(record)
            .filter(|b| b.user.role == Role::Admin)
            .map(BrandAdmin)
    }
}

/// An admin is a brand user with more rights.
impl Deref for BrandAdmin {
    type Target = BrandUser;

    fn deref(&self) -> &BrandUser {
        &self.0
    }
}

/// Support staff, signed in: belong to no brand account, and enable SocialConnect for
/// brands that asked.
#[derive(Debug, Clone)]
pub struct Support {
    pub user: User,
}

impl Support {
    fn of(record: SessionRecord) -> Option<Self> {
        match (record.user.role, record.account) {
            (Role::Support, None) => Some(Support { user: record.user }),
            _ => None,
        }
    }
}

/// A brand user or support staff: the two sides of a sign-up request's chat.
#[derive(Debug, Clone)]
pub enum BrandOrSupport {
    Brand(BrandUser),
    Support(Support),
}

impl BrandOrSupport {
    fn of(record: SessionRecord) -> Option<Self> {
        match record.user.role {
            Role::Support => Support::of(record).map(BrandOrSupport::Support),
            Role::Admin | Role::Agent => BrandUser::of(record).map(BrandOrSupport::Brand),
        }
    }

    pub fn user(&self) -> &User {
        match self {
            BrandOrSupport::Brand(b) => &b.user,
            BrandOrSupport::Support(s) => &s.user,
        }
    }

    /// The caller's brand account; `None` for support staff, who see every brand's.
    pub fn account_id(&self) -> Option<i64> {
        match self {
            BrandOrSupport::Brand(b) => Some(b.account.id),
            BrandOrSupport::Support(_) => None,
        }
    }
}

/// The session's record, or 401/403 as [`Session`] refuses; then `role` picks the role
/// out of it, or 403.
async fn extract<T>(
    parts: &mut Parts,
    state: &AppState,
    role: fn(SessionRecord) -> Option<T>,
) -> AppResult<T> {
    let Session(record) = Session::from_request_parts(parts, state).await?;
    role(record).ok_or_else(AppError::forbidden)
}

/// Implements the extractor for each role by its `of`.
macro_rules! role_extractor {
    ($($role:ty),*) => {$(
        impl FromRequestParts<AppState> for $role {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
                extract(parts, state, <$role>::of).await
            }
        }
    )*};
}

role_extractor!(BrandUser, BrandAdmin, Support, BrandOrSupport);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;
    use crate::store::NewUser;
    use axum::http::{Method, Request, StatusCode, header};
    use axum::response::IntoResponse;
    use shared::api::CSRF_HEADER;

    const CSRF: &str = "csrf";

    /// A state whose store holds one signed-in user per role: `(state, [(role, token)])`.
    async fn signed_in() -> (AppState, tempfile::TempDir, Vec<(Role, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let settings = ServeArgs::for_tests(dir.path().to_path_buf());
        let store = crate::store::open(None, dir.path()).await.unwrap();
        let cipher = settings.store.cipher().unwrap();
        let account = store.ensure_account("1001", "Acme", true).await.unwrap();
        let now = super::super::now_secs();
        let mut tokens = Vec::new();
        for role in [Role::Admin, Role::Agent, Role::Support] {
            let user = store
                .create_user(NewUser {
                    account_id: (role != Role::Support).then_some(account.id),
                    email: &format!("{role}@example.com"),
                    name: role.as_str(),
                    role,
                    password_hash: "not a hash",
                })
                .await
                .unwrap()
                .unwrap();
            let token = format!("token-{role}");
            store
                .create_session(
                    &super::super::token_hash(&token),
                    user.id,
                    CSRF,
                    now,
                    now + 60,
                )
                .await
                .unwrap();
            tokens.push((role, token));
        }
        let network = crate::connectors::http_client();
        let state = AppState::new(store, settings, "http://x".into(), cipher, network);
        (state, dir, tokens)
    }

    /// What extracting `T` answers to a request with this cookie and CSRF header.
    async fn status<T: FromRequestParts<AppState, Rejection = AppError>>(
        state: &AppState,
        method: Method,
        token: Option<&str>,
        csrf: Option<&str>,
    ) -> StatusCode {
        let mut req = Request::builder().method(method).uri("/");
        if let Some(token) = token {
            req = req.header(
                header::COOKIE,
                format!("{}={token}", super::super::SESSION_COOKIE),
            );
        }
        if let Some(csrf) = csrf {
            req = req.header(CSRF_HEADER, csrf);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        match T::from_request_parts(&mut parts, state).await {
            Ok(_) => StatusCode::OK,
            Err(e) => e.into_response().status(),
        }
    }

    /// Each extractor takes its roles and refuses the others with 403; without a session
    /// it asks for one (401), and a state change without the CSRF header is refused (403).
    async fn admits<T: FromRequestParts<AppState, Rejection = AppError>>(roles: &[Role]) {
        let (state, _dir, tokens) = signed_in().await;
        for (role, token) in &tokens {
            let want = if roles.contains(role) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            let name = std::any::type_name::<T>();
            let got = status::<T>(&state, Method::GET, Some(token), None).await;
            assert_eq!(got, want, "{name} for {role} (GET)");
            let got = status::<T>(&state, Method::POST, Some(token), Some(CSRF)).await;
            assert_eq!(got, want, "{name} for {role} (POST with CSRF)");
            let got = status::<T>(&state, Method::POST, Some(token), None).await;
            assert_eq!(got, StatusCode::FORBIDDEN, "{name} for {role} without CSRF");
        }
        let got = status::<T>(&state, Method::GET, None, None).await;
        assert_eq!(got, StatusCode::UNAUTHORIZED, "no session");
        let got = status::<T>(&state, Method::GET, Some("expired or forged"), None).await;
        assert_eq!(got, StatusCode::UNAUTHORIZED, "unknown session");
    }

    #[tokio::test]
    async fn brand_users_are_admins_and_agents() {
        admits::<BrandUser>(&[Role::Admin, Role::Agent]).await;
    }

    #[tokio::test]
    async fn brand_admins_are_admins_only() {
        admits::<BrandAdmin>(&[Role::Admin]).await;
    }

    #[tokio::test]
    async fn support_is_support_staff_only() {
        admits::<Support>(&[Role::Support]).await;
    }

    #[tokio::test]
    async fn the_sign_up_chat_is_for_brand_users_and_support() {
        admits::<BrandOrSupport>(&[Role::Admin, Role::Agent, Role::Support]).await;
        admits::<Session>(&[Role::Admin, Role::Agent, Role::Support]).await;
    }

    /// The database allows neither shape; were one read, it would hold no role.
    #[test]
    fn a_role_needs_its_account_or_none() {
        let record = |role, account: Option<Account>| SessionRecord {
            user: User {
                id: 1,
                account_id: account.as_ref().map(|a| a.id),
                email: String::new(),
                name: String::new(),
                role,
            },
            account,
            csrf_token: CSRF.into(),
        };
        let acme = || Account {
            id: 7,
            number: "1001".into(),
            name: "Acme".into(),
            socialconnect_enabled: true,
        };
        assert!(BrandUser::of(record(Role::Admin, None)).is_none());
        assert!(BrandOrSupport::of(record(Role::Agent, None)).is_none());
        assert!(Support::of(record(Role::Support, Some(acme()))).is_none());
        assert!(BrandOrSupport::of(record(Role::Support, Some(acme()))).is_none());
        assert!(BrandAdmin::of(record(Role::Admin, Some(acme()))).is_some());
    }
}
