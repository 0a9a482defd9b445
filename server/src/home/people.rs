//! SocialConnect Home's People section: admins invite people of their brand (a one-time
//! set-password link to pass on), change their role, deactivate and reactivate them. The
//! last active admin can be neither demoted nor deactivated; deactivating ends the person's
//! sessions and closes their open pages' event streams at once. Admins also rename and
//! retire the skills people answer.

use super::{audit, date};
use crate::AppState;
use crate::auth::BrandAdmin;
use crate::auth::password;
use crate::error::{ApiJson, AppError, AppResult};
use crate::store::{NewPerson, PeopleOf, Person};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use shared::Role;
use shared::home::{Invite, Invited, MAX_SKILL_NAME, PersonRow, RenameSkill, SetRole};

/// The routes of [`router`], for the brand's admins (see `crate::api_routes`).
pub const ROUTES: &[(&str, &str)] = &[
    ("PUT", "/api/home/skills/{id}"),
    ("POST", "/api/home/skills/{id}/retire"),
    ("POST", "/api/home/people"),
    ("PUT", "/api/home/people/{id}/role"),
    ("POST", "/api/home/people/{id}/deactivate"),
    ("POST", "/api/home/people/{id}/reactivate"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/home/skills/{id}", put(rename_skill))
        .route("/api/home/skills/{id}/retire", post(retire_skill))
        .route("/api/home/people", post(invite))
        .route("/api/home/people/{id}/role", put(set_role))
        .route("/api/home/people/{id}/deactivate", post(deactivate))
        .route("/api/home/people/{id}/reactivate", post(reactivate))
}

/// What the People table shows of a person.
pub fn row(p: Person) -> PersonRow {
    PersonRow {
        id: p.user.id,
        name: p.user.name,
        email: p.user.email,
        role: p.user.role,
        skills: p.skill_ids,
        all_skills: p.all_skills,
        status: p.status,
        last_sign_in: p.last_sign_in_at.map(|at| date(at, true)),
    }
}

/// A person of the admin's brand (404 for anyone else's).
async fn of_brand(state: &AppState, admin: &BrandAdmin, id: i64) -> AppResult<Person> {
    state
        .store
        .person(PeopleOf::Account(admin.account.id), id)
        .await?
        .ok_or_else(|| AppError::not_found("person"))
}

fn who(p: &Person) -> String {
    format!("{} ({})", p.user.name, p.user.email)
}

async fn invite(
    State(state): State<AppState>,
    admin: BrandAdmin,
    ApiJson(req): ApiJson<Invite>,
) -> AppResult<(StatusCode, ApiJson<Invited>)> {
    if req.role == Role::Support {
        return Err(AppError::bad_request(
            "invite an admin or an agent; support staff are SocialConnect's own",
        ));
    }
    let (email, name) = (req.email.trim(), req.name.trim());
    password::check_email(email).map_err(AppError::bad_request)?;
    let person = NewPerson {
        of: PeopleOf::Account(admin.account.id),
        email,
        name,
        role: req.role,
    };
    let (user, link) = password::invite(state.store.as_ref(), &state.public_url, person).await?;
    let person = of_brand(&state, &admin, user.id).await?;
    let emailed = match &state.mailer {
        Some(mailer) => match mailer
            .invitation(
                &person.user.name,
                &person.user.email,
                &admin.account.name,
                &link,
            )
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(person = person.user.id, error = %e, "emailing an invitation failed");
                false
            }
        },
        None => false,
    };
    audit(
        state.store.as_ref(),
        &admin,
        "invited",
        format!("{} as {}", who(&person), req.role),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(Invited {
            person: row(person),
            link,
            emailed,
        }),
    ))
}

async fn set_role(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SetRole>,
) -> AppResult<ApiJson<PersonRow>> {
    if req.role == Role::Support {
        return Err(AppError::bad_request(
            "a brand's people are admins or agents",
        ));
    }
    let before = of_brand(&state, &admin, id).await?;
    state.store.set_role(id, req.role).await?;
    let after = of_brand(&state, &admin, id).await?;
    if before.user.role != after.user.role {
        let detail = format!(
            "{}: {} → {}",
            who(&after),
            before.user.role,
            after.user.role
        );
        audit(state.store.as_ref(), &admin, "changed role", detail).await?;
    }
    Ok(ApiJson(row(after)))
}

async fn deactivate(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<PersonRow>> {
    set_active(state, admin, id, false).await
}

async fn reactivate(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<ApiJson<PersonRow>> {
    set_active(state, admin, id, true).await
}

async fn set_active(
    state: AppState,
    admin: BrandAdmin,
    id: i64,
    active: bool,
) -> AppResult<ApiJson<PersonRow>> {
    let before = of_brand(&state, &admin, id).await?;
    state.store.set_active(id, active).await?;
    if !active {
        state.live.signed_out(id);
    }
    let after = of_brand(&state, &admin, id).await?;
    if before.status != after.status {
        let action = if active { "reactivated" } else { "deactivated" };
        audit(state.store.as_ref(), &admin, action, who(&after)).await?;
    }
    Ok(ApiJson(row(after)))
}

async fn rename_skill(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<RenameSkill>,
) -> AppResult<StatusCode> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_SKILL_NAME {
        return Err(AppError::bad_request(format!(
            "a skill's name has 1 to {MAX_SKILL_NAME} characters"
        )));
    }
    let store = state.store.as_ref();
    let before = store
        .skills(admin.account.id)
        .await?
        .into_iter()
        .find(|(s, _)| *s == id)
        .ok_or_else(|| AppError::not_found("skill"))?;
    store.rename_skill(admin.account.id, id, name).await?;
    audit(
        store,
        &admin,
        "renamed skill",
        format!("{} → {name}", before.1),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retire_skill(
    State(state): State<AppState>,
    admin: BrandAdmin,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let store = state.store.as_ref();
    let (_, name) = store
        .skills(admin.account.id)
        .await?
        .into_iter()
        .find(|(s, _)| *s == id)
        .ok_or_else(|| AppError::not_found("skill"))?;
    store.retire_skill(admin.account.id, id).await?;
    audit(store, &admin, "retired skill", name).await?;
    Ok(StatusCode::NO_CONTENT)
}
