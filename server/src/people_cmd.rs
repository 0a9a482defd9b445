//! `socialconnect accounts` and `socialconnect users`: brand accounts and people for
//! operators, with no password ever on a command line. Each works whether or not a server
//! runs on the same data. Data goes to `out` (stdout), words for the operator to `note`
//! (stderr).

use crate::auth::password;
use crate::config::{AccountsArgs, AccountsCommand, UserScope, UsersArgs, UsersCommand};
use crate::store::{NewPerson, PeopleOf, Person, Store};
use anyhow::{Context, bail};
use serde_json::json;
use shared::Role;
use std::io::Write;

pub async fn accounts(args: AccountsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match args.command {
        AccountsCommand::Create {
            account,
            name,
            enabled,
            store,
        } => {
            let (number, name) = (account.trim(), name.trim());
            if number.is_empty() || name.is_empty() {
                bail!("give an account number and a name");
            }
            let store = store.open().await?;
            if store.account_by_number(number).await?.is_some() {
                bail!("brand account {number} exists already");
            }
            let created = store.ensure_account(number, name, enabled).await?;
            let state = if created.socialconnect_enabled {
                "SocialConnect enabled"
            } else {
                "SocialConnect not enabled yet"
            };
            writeln!(out, "created brand account {number} ({name}); {state}")?;
        }
    }
    Ok(())
}

pub async fn users(
    args: UsersArgs,
    out: &mut dyn Write,
    note: &mut dyn Write,
) -> anyhow::Result<()> {
    match args.command {
        UsersCommand::Add {
            scope,
            email,
            name,
            role,
            public_url,
            listen,
            store,
        } => {
            let store = store.open().await?;
            let of = scope_of(store.as_ref(), &scope).await?;
            let role = match (of, role) {
                (PeopleOf::Support, _) => Role::Support,
                (PeopleOf::Account(_), Some(role @ (Role::Admin | Role::Agent))) => role,
                (PeopleOf::Account(_), _) => bail!("--role is admin or agent"),
            };
            let public_url = public_url.unwrap_or_else(|| format!("http://{listen}"));
            let person = NewPerson {
                of,
                email: email.trim(),
                name: name.trim(),
                role,
            };
            let (_, link) = password::invite(store.as_ref(), &public_url, person).await?;
            writeln!(
                note,
                "added {} as {role}; they choose their password through this link \
                 (single use, valid 72 hours):",
                email.trim()
            )?;
            writeln!(out, "{link}")?;
        }
        UsersCommand::List {
            account,
            support,
            store,
        } => {
            let store = store.open().await?;
            let of = match (account, support) {
                (Some(number), _) => Some(PeopleOf::Account(
                    account_id(store.as_ref(), &number).await?,
                )),
                (None, true) => Some(PeopleOf::Support),
                (None, false) => None,
            };
            for p in store.people_of(of).await? {
                writeln!(out, "{}", listed(&p))?;
            }
        }
        UsersCommand::Disable {
            scope,
            email,
            store,
        } => {
            let store = store.open().await?;
            let of = scope_of(store.as_ref(), &scope).await?;
            let person = store
                .person_by_email(of, email.trim())
                .await?
                .with_context(|| format!("no person {} there", email.trim()))?;
            store.set_active(person.user.id, false).await?;
            writeln!(
                note,
                "disabled {}; their sessions have ended",
                person.user.email
            )?;
        }
    }
    Ok(())
}

/// `users list`'s line for a person (CONTRACT.md §5).
fn listed(p: &Person) -> serde_json::Value {
    json!({
        "account": p.account_number,
        "email": p.user.email,
        "name": p.user.name,
        "role": p.user.role.as_str(),
        "status": p.status.as_str(),
        "skills": p.skills,
    })
}

async fn account_id(store: &dyn Store, number: &str) -> anyhow::Result<i64> {
    Ok(store
        .account_by_number(number.trim())
        .await?
        .with_context(|| format!("no brand account {:?}", number.trim()))?
        .id)
}

async fn scope_of(store: &dyn Store, scope: &UserScope) -> anyhow::Result<PeopleOf> {
    match &scope.account {
        Some(number) => Ok(PeopleOf::Account(account_id(store, number).await?)),
        None => Ok(PeopleOf::Support),
    }
}

/// Runs `socialconnect accounts …` or `socialconnect users …`, given as the words after
/// `socialconnect`, in this process: what it wrote to stdout. For tests that drive a server
/// they run in-process, as an operator would beside it.
pub async fn run(words: &[&str]) -> anyhow::Result<String> {
    use crate::config::{Cli, Command};
    use clap::Parser;
    let cli = Cli::try_parse_from(std::iter::once("socialconnect").chain(words.iter().copied()))?;
    let (mut out, mut note) = (Vec::new(), Vec::new());
    match cli.command {
        Command::Accounts(args) => accounts(args, &mut out).await?,
        Command::Users(args) => users(args, &mut out, &mut note).await?,
        _ => bail!("only `accounts` and `users` run here"),
    }
    Ok(String::from_utf8(out)?)
}
