//! The storage suite: every scenario runs on the embedded database and on PostgreSQL (a
//! fresh database per test, dropped afterwards; see `common/pg.rs`), through the one
//! `Store` interface handlers use. A few scenarios about several instances sharing one
//! database run on PostgreSQL only (the embedded database serves one instance).

use crate::common;

use common::pg::PgDb;
use server::store::{
    self, LinkedAccount, MarkedSent, MediaCopy, MediaStatus, NewLink, NewReply, NewUser,
    QueueScope, Store, TakeOutcome,
};
use shared::api::QueueView;
use shared::inbound::{Change, ConsumerRef, InboundMessage, MediaKind, MediaRef, SharedLink};
use shared::{Channel, ReplyMode, Role, Tag};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The owner ids two instances claim outbox rows and bot turns with.
const ME: &str = "instance-a";
const OTHER: &str = "instance-b";

/// A store on one backend, with what keeps it alive.
struct Db {
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    pg: Option<PgDb>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(None, dir.path()).await.unwrap();
        Db {
            store,
            dir,
            pg: None,
        }
    }

    async fn postgres() -> Db {
        let pg = PgDb::create().await;
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(Some(&pg.url), dir.path()).await.unwrap();
        Db {
            store,
            dir,
            pg: Some(pg),
        }
    }

    /// Another instance's connection to the same database (PostgreSQL).
    async fn another_instance(&self) -> Arc<dyn Store> {
        let url = &self.pg.as_ref().expect("PostgreSQL").url;
        store::open(Some(url), self.dir.path()).await.unwrap()
    }
}

/// Each scenario as two tests, `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Db::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Db::postgres().await).await
            }
        }
    )*};
}

on_both!(
    users_are_unique_per_account_case_insensitively,
    sessions_are_shared_and_expire,
    links_belong_to_one_brand,
    ingest_is_idempotent_and_applies_edits_and_removals,
    webhooks_are_stored_for_linked_accounts_only,
    concurrent_redeliveries_store_each_line_once,
    queue_take_and_close,
    outbox_sends_in_order_per_conversation,
    brand_echo_settles_a_pending_reply,
    media_copies_are_leased_and_recorded,
    profiles_due_are_marked_tried,
    uploads_travel_with_replies_into_transcript_and_export,
    a_newer_schema_is_refused,
    a_facebook_persons_two_ids_become_one_conversation,
    private_responses_are_known_per_post_or_comment_and_pages_can_be_restricted,
    migrate_says_where_the_schema_stands,
    home_settings_audit_and_sign_in_flows,
    onboarding_requests_chat_and_enabling,
    automation_state_hand_over_and_survey,
    a_stale_owner_changes_nothing_once_another_took_the_reply_over,
    a_late_send_is_recorded_once_and_the_takers_result_dropped,
    a_bot_turn_is_claimed_by_one_instance_until_its_lease_runs_out,
    sign_in_attempts_are_counted_atomically_per_window,
    the_first_key_fingerprint_recorded_stays,
    shared_links_are_stored_shown_and_exported_not_fetched,
    profile_pictures_are_copied_like_media_and_shown_as_ours,
    media_survive_the_move_to_owners_of_two_kinds,
    set_password_links_are_single_use_and_expire,
    the_last_active_admin_stays_an_active_admin,
);

/// A conversation with one reply queued: (conversation, reply line).
async fn one_reply(store: &dyn Store) -> (i64, i64) {
    let linked = brand(store, "1").await;
    let c = store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap()
        .conversations[0];
    let id = store.enqueue_reply(reply(c, &linked, "r")).await.unwrap();
    (c, id)
}

/// When another instance may claim what one claimed at `at`: after the lease, or at once
/// where there is none (the embedded database: one instance, which claims as it sends).
fn past_the_lease(store: &dyn Store, at: i64) -> i64 {
    at + store.outbox_lease().map_or(0, |l| l.as_millis() as i64)
}

async fn status(store: &dyn Store, id: i64) -> (String, Option<String>) {
    store.line_status(id).await.unwrap().unwrap()
}

async fn a_stale_owner_changes_nothing_once_another_took_the_reply_over(db: Db) {
    let store = db.store.as_ref();
    let (_, id) = one_reply(store).await;
    let mine = store.next_due(ME, 1_000).await.unwrap().unwrap();
    assert_eq!(mine.message_id, id);
    assert!(store.extend_claim(ME, id, 1_000).await.unwrap());
    // This instance stalls past its lease; another takes the reply over.
    let later = past_the_lease(store, 1_000);
    let theirs = store.next_due(OTHER, later).await.unwrap().unwrap();
    assert_eq!(theirs.message_id, id);

    // The stale owner's extension, image id, retry and failure change nothing.
    assert!(!store.extend_claim(ME, id, later).await.unwrap());
    assert!(!store.set_media_sent(ME, id, "stale-img").await.unwrap());
    assert!(
        !store
            .reschedule(ME, id, 1, later + 60_000, "stale 503")
            .await
            .unwrap()
    );
    assert!(!store.mark_failed(ME, id, "stale failure").await.unwrap());
    assert_eq!(status(store, id).await, ("sending".into(), None));
    if store.outbox_lease().is_some() {
        // Nor did the stale extension keep the row from its owner's lease running out.
        let after = past_the_lease(store, later);
        assert!(store.next_due(OTHER, after - 1).await.unwrap().is_none());
    }

    // The owner's own take effect: its retry is recorded, with no image sent yet.
    assert!(store.extend_claim(OTHER, id, later).await.unwrap());
    assert!(
        store
            .reschedule(OTHER, id, 1, later + 5_000, "503")
            .await
            .unwrap()
    );
    // A reschedule releases the claim: until claimed again, no one's extension counts.
    assert!(!store.extend_claim(OTHER, id, later).await.unwrap());
    let retry = store.next_due(ME, later + 5_000).await.unwrap().unwrap();
    assert_eq!((retry.attempts, retry.media_sent_id), (1, None));
    assert!(store.mark_failed(ME, id, "refused").await.unwrap());
    assert_eq!(
        status(store, id).await,
        ("failed".into(), Some("refused".into()))
    );
}

async fn a_late_send_is_recorded_once_and_the_takers_result_dropped(db: Db) {
    let store = db.store.as_ref();
    let account = store.ensure_account("1", "Acme", true).await.unwrap().id;
    let network_id_of = |id: i64| async move {
        store
            .export(account, i64::MIN)
            .await
            .unwrap()
            .iter()
            .flat_map(|c| c.messages.clone())
            .find(|m| m.id == id)
            .unwrap()
            .network_id
    };
    let (c, id) = one_reply(store).await;
    store.next_due(ME, 1_000).await.unwrap().unwrap();
    let later = past_the_lease(store, 1_000);
    store.next_due(OTHER, later).await.unwrap().unwrap();
    // The network took the first instance's send after all: that is recorded, and the row
    // goes, so the taker (which may be sending it too) leaves no row to send a third time.
    assert_eq!(
        store.mark_sent(ME, id, "net-first").await.unwrap(),
        MarkedSent::SentLate
    );
    assert_eq!(status(store, id).await, ("sent".into(), None));
    assert!(store.next_due(OTHER, i64::MAX / 2).await.unwrap().is_none());
    // The taker's answer, whatever it is, finds the line sent: it changes nothing.
    assert!(!store.reschedule(OTHER, id, 1, later, "503").await.unwrap());
    assert!(
        !store
            .mark_failed(OTHER, id, "Activity already replied to")
            .await
            .unwrap()
    );
    assert_eq!(
        store.mark_sent(OTHER, id, "net-second").await.unwrap(),
        MarkedSent::AlreadySent
    );
    assert_eq!(status(store, id).await, ("sent".into(), None));
    assert_eq!(network_id_of(id).await.as_deref(), Some("net-first"));

    // The other way round: the taker recorded the line sent first; the stale owner's
    // late success keeps the taker's record.
    let linked = store
        .linked_account(Channel::Facebook, "page-1")
        .await
        .unwrap()
        .unwrap();
    let next = store.enqueue_reply(reply(c, &linked, "r2")).await.unwrap();
    store.next_due(ME, 2_000).await.unwrap().unwrap();
    let later = past_the_lease(store, 2_000);
    store.next_due(OTHER, later).await.unwrap().unwrap();
    assert_eq!(
        store.mark_sent(OTHER, next, "net-taker").await.unwrap(),
        MarkedSent::Sent
    );
    assert_eq!(
        store.mark_sent(ME, next, "net-stale").await.unwrap(),
        MarkedSent::AlreadySent
    );
    assert_eq!(network_id_of(next).await.as_deref(), Some("net-taker"));

    // And a failure the taker recorded is corrected by the late success: the consumer
    // has the reply.
    let third = store.enqueue_reply(reply(c, &linked, "r3")).await.unwrap();
    store.next_due(ME, 3_000).await.unwrap().unwrap();
    let later = past_the_lease(store, 3_000);
    store.next_due(OTHER, later).await.unwrap().unwrap();
    assert!(store.mark_failed(OTHER, third, "timed out").await.unwrap());
    assert_eq!(
        store.mark_sent(ME, third, "net-third").await.unwrap(),
        MarkedSent::SentLate
    );
    assert_eq!(status(store, third).await, ("sent".into(), None));
}

async fn a_bot_turn_is_claimed_by_one_instance_until_its_lease_runs_out(db: Db) {
    let store = db.store.as_ref();
    let (c, _) = one_reply(store).await;
    assert!(store.claim_bot_turn(c, ME, 1_000, 11_000).await.unwrap());
    assert!(
        !store
            .claim_bot_turn(c, OTHER, 10_999, 20_999)
            .await
            .unwrap()
    );
    // The holder renews; the lease runs from the renewal.
    assert!(store.claim_bot_turn(c, ME, 10_000, 20_000).await.unwrap());
    assert!(
        !store
            .claim_bot_turn(c, OTHER, 15_000, 25_000)
            .await
            .unwrap()
    );
    // Its holder died: the claim runs out and another instance takes it over; the former
    // holder's renewal then fails, and its release leaves the new claim alone.
    assert!(
        store
            .claim_bot_turn(c, OTHER, 20_000, 30_000)
            .await
            .unwrap()
    );
    assert!(!store.claim_bot_turn(c, ME, 21_000, 31_000).await.unwrap());
    store.release_bot_turn(c, ME).await.unwrap();
    assert!(!store.claim_bot_turn(c, ME, 21_000, 31_000).await.unwrap());
    store.release_bot_turn(c, OTHER).await.unwrap();
    assert!(store.claim_bot_turn(c, ME, 21_000, 31_000).await.unwrap());
    store.release_bot_turn(c, ME).await.unwrap();

    // Many claiming at once: one wins.
    let stores: Vec<Arc<dyn Store>> = match &db.pg {
        Some(_) => vec![db.store.clone(), db.another_instance().await],
        None => vec![db.store.clone()],
    };
    let mut tries = Vec::new();
    for n in 0..16 {
        let store = stores[n % stores.len()].clone();
        tries.push(tokio::spawn(async move {
            store
                .claim_bot_turn(c, &format!("instance-{n}"), 40_000, 50_000)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn sign_in_attempts_are_counted_atomically_per_window(db: Db) {
    let store = db.store.as_ref();
    let first = store.count_sign_in("k", 1_000, 300_000).await.unwrap();
    assert_eq!((first.attempts, first.window_ends_ms), (1, 301_000));
    let second = store.count_sign_in("k", 2_000, 300_000).await.unwrap();
    assert_eq!((second.attempts, second.window_ends_ms), (2, 301_000));
    // Parallel attempts each get their own number.
    let mut tries = Vec::new();
    for _ in 0..30 {
        let store = db.store.clone();
        tries.push(tokio::spawn(async move {
            store
                .count_sign_in("k", 3_000, 300_000)
                .await
                .unwrap()
                .attempts
        }));
    }
    let mut numbers = Vec::new();
    for t in tries {
        numbers.push(t.await.unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (3..=32).collect::<Vec<_>>());
    // Other keys do not touch it.
    store.count_sign_in("other", 3_000, 300_000).await.unwrap();
    // A success forgives one attempt of one key and clears another.
    store.count_sign_in("addr", 3_000, 300_000).await.unwrap();
    store.count_sign_in("addr", 3_000, 300_000).await.unwrap();
    store.sign_in_succeeded("k", Some("addr")).await.unwrap();
    assert_eq!(
        store
            .count_sign_in("k", 4_000, 300_000)
            .await
            .unwrap()
            .attempts,
        1
    );
    assert_eq!(
        store
            .count_sign_in("addr", 4_000, 300_000)
            .await
            .unwrap()
            .attempts,
        2
    );
    // A new window starts when the last is over.
    let next = store.count_sign_in("addr", 303_000, 300_000).await.unwrap();
    assert_eq!((next.attempts, next.window_ends_ms), (1, 603_000));
    // Counts of past windows are purged.
    assert_eq!(store.purge_sign_in_counts(303_000).await.unwrap(), 2);
    assert_eq!(
        store
            .count_sign_in("k", 304_000, 300_000)
            .await
            .unwrap()
            .attempts,
        1
    );
}

async fn the_first_key_fingerprint_recorded_stays(db: Db) {
    let store = db.store.as_ref();
    assert!(!store.has_key_fingerprint().await.unwrap());
    assert_eq!(store.key_fingerprint("aaaa", 1).await.unwrap(), "aaaa");
    assert!(store.has_key_fingerprint().await.unwrap());
    assert_eq!(store.key_fingerprint("bbbb", 2).await.unwrap(), "aaaa");
}

async fn home_settings_audit_and_sign_in_flows(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let account = linked.account_id;
    assert_eq!(
        store.linked_by_id(linked.id).await.unwrap(),
        Some(linked.clone())
    );
    let home = store.home_linked(account).await.unwrap();
    assert_eq!(home.len(), 1);
    assert_eq!(
        (home[0].linked.id, home[0].created_by.as_str()),
        (linked.id, "test")
    );
    let c = store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap()
        .conversations[0];
    let billing = store.ensure_skill(account, "Billing").await.unwrap();
    store.set_linked_skill(linked.id, billing).await.unwrap();
    assert_eq!(
        store
            .conversation_info(c)
            .await
            .unwrap()
            .unwrap()
            .skill
            .as_deref(),
        Some("Billing"),
        "an unheld conversation follows its channel"
    );
    let names: Vec<String> = store
        .skills(account)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.1)
        .collect();
    assert_eq!(names, vec!["Billing", "social"]);
    let agent = store
        .create_user(NewUser {
            account_id: Some(account),
            email: "a@x.example",
            name: "Agnes",
            role: Role::Agent,
            password_hash: "x",
        })
        .await
        .unwrap()
        .unwrap();
    store
        .set_user_skills(agent.id, false, &[billing, linked.skill_id.unwrap()])
        .await
        .unwrap();
    let people = store
        .people_of(Some(store::PeopleOf::Account(account)))
        .await
        .unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].user, agent);
    // By name: Billing, then social.
    assert_eq!(people[0].skill_ids, vec![billing, linked.skill_id.unwrap()]);
    assert_eq!(people[0].skills, vec!["Billing", "social"]);
    assert_eq!(store.user_by_id(agent.id).await.unwrap(), Some(agent));

    assert!(store.send_image_enabled(account).await.unwrap());
    assert!(store.transcript(c).await.unwrap().unwrap().brand.send_image);
    store.set_send_image(account, false).await.unwrap();
    assert!(!store.send_image_enabled(account).await.unwrap());
    assert!(!store.transcript(c).await.unwrap().unwrap().brand.send_image);

    for (at, action) in [(10, "linked"), (20, "unlinked")] {
        store
            .audit(
                account,
                &store::AuditEntry {
                    at,
                    actor: "admin@x.example".into(),
                    action: action.into(),
                    detail: "page".into(),
                },
            )
            .await
            .unwrap();
    }
    let log = store.audit_log(account, 10).await.unwrap();
    assert_eq!(log.len(), 2);

    let pending = store::OAuthPending {
        id: "state-1".into(),
        account_id: account,
        user_id: people[0].user.id,
        session_binding: "bind".into(),
        channel: Channel::Twitter,
        request_token: Some("rt".into()),
        secret_sealed: Some(vec![1, 2]),
        pages_sealed: None,
        created_at: 100,
    };
    store.put_oauth_pending(&pending).await.unwrap();
    assert_eq!(
        store.oauth_pending("state-1").await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        store.oauth_pending_by_request_token("rt").await.unwrap(),
        Some(pending.clone())
    );
    store.set_oauth_pages("state-1", &[9, 9]).await.unwrap();
    assert_eq!(
        store
            .oauth_pending("state-1")
            .await
            .unwrap()
            .unwrap()
            .pages_sealed,
        Some(vec![9, 9])
    );
    store.delete_oauth_pending(None, 50).await.unwrap();
    assert!(
        store.oauth_pending("state-1").await.unwrap().is_some(),
        "not expired yet"
    );
    store.delete_oauth_pending(None, 101).await.unwrap();
    assert!(store.oauth_pending("state-1").await.unwrap().is_none());
}

async fn onboarding_requests_chat_and_enabling(db: Db) {
    use shared::onboarding::{ChatAuthor, SignupStatus};
    let store = db.store.as_ref();
    let account = store.ensure_account("77", "Newco", false).await.unwrap();
    let admin = store
        .create_user(NewUser {
            account_id: Some(account.id),
            email: "boss@newco.example",
            name: "Boss",
            role: Role::Admin,
            password_hash: "x",
        })
        .await
        .unwrap()
        .unwrap();
    let (request, made) = store
        .signup_create(account.id, admin.id, "Welcome", 1_000)
        .await
        .unwrap();
    assert!(made);
    let (again, made_again) = store
        .signup_create(account.id, admin.id, "Welcome", 2_000)
        .await
        .unwrap();
    assert!(!made_again, "one request per account");
    assert_eq!(again.id, request.id);
    assert_eq!(request.status, SignupStatus::Open);
    assert_eq!(request.messages, 1);
    let said = store
        .signup_add_message(store::NewChatMessage {
            request_id: request.id,
            author_id: Some(admin.id),
            author: ChatAuthor::Brand,
            author_name: "Boss",
            text: "<b>hello</b>",
            link: None,
            now_ms: 3_000,
        })
        .await
        .unwrap();
    assert_eq!(said.text, "<b>hello</b>");
    let (owner, seen) = store.signup_request(request.id).await.unwrap().unwrap();
    assert_eq!(owner, account.id);
    assert_eq!(
        (seen.messages, seen.last_author),
        (2, Some(ChatAuthor::Brand))
    );
    assert_eq!(store.signup_requests().await.unwrap().len(), 1);
    let enabled = store
        .signup_enable(
            request.id,
            admin.id,
            "http://x/home",
            store::NewChatMessage {
                request_id: request.id,
                author_id: None,
                author: ChatAuthor::System,
                author_name: "SocialConnect",
                text: "Enabled",
                link: Some("http://x/home"),
                now_ms: 4_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(enabled.status, SignupStatus::Enabled);
    assert_eq!(enabled.home_url.as_deref(), Some("http://x/home"));
    assert!(
        store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .socialconnect_enabled
    );
    let chat = store.signup_messages(request.id).await.unwrap();
    let texts: Vec<&str> = chat.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["Welcome", "<b>hello</b>", "Enabled"]);
    assert_eq!(chat[2].link.as_deref(), Some("http://x/home"));
    assert_eq!(
        store
            .signup_of_account(account.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        request.id
    );
}

/// The bot's side of the store: settings, credentials, what is due, where the bot stands,
/// hand-over into the agents' queue and the survey answer in export.
async fn automation_state_hand_over_and_survey(db: Db) {
    use server::store::{BotPhase, BotState};
    let s = db.store.as_ref();
    let linked = brand(s, "6060").await;
    s.set_automation(linked.id, true, r#"{"greeting":"Hi"}"#, 1_000)
        .await
        .unwrap();
    s.set_bot_credentials(linked.id, &[9, 9], "token-hash", 1_000)
        .await
        .unwrap();
    let (l, record) = s.automation_account(linked.id).await.unwrap().unwrap();
    assert_eq!(l.id, linked.id);
    let record = record.unwrap();
    assert!(record.enabled && record.has_token);
    assert_eq!(record.enabled_at_ms, 1_000);
    assert_eq!(record.secret_sealed.as_deref(), Some(&[9u8, 9][..]));
    assert_eq!(s.bot_by_token("token-hash").await.unwrap(), Some(linked.id));
    assert_eq!(s.bot_by_token("other").await.unwrap(), None);
    assert_eq!(
        s.automation_accounts(linked.account_id)
            .await
            .unwrap()
            .len(),
        1
    );

    // A private line after automation went on is due for the bot.
    let report = s
        .ingest(&linked, &[line("P1", "m.bot.1", "hello", 2_000)], 2_000)
        .await
        .unwrap();
    let conv = report.conversations[0];
    assert_eq!(s.automation_due(3_000, 10).await.unwrap(), vec![conv]);
    let ctx = s.bot_context(conv).await.unwrap().unwrap();
    assert_eq!(ctx.consumer_network_id, "P1");
    assert_eq!(ctx.new_lines.len(), 1);
    assert!(ctx.open && !ctx.assigned && ctx.state.is_none());

    // The bot holds it: seen, not in the agents' queue, late after its deadline.
    let holding = BotState {
        phase: BotPhase::Bot,
        last_line_id: ctx.latest_line_id,
        away_sent: true,
        answer_by_ms: Some(10_000),
        reason: None,
    };
    s.set_bot_state(conv, &holding, 3_000).await.unwrap();
    assert!(s.automation_due(5_000, 10).await.unwrap().is_empty());
    assert_eq!(s.automation_due(10_000, 10).await.unwrap(), vec![conv]);
    let scope = QueueScope {
        account_id: linked.account_id,
        user_id: 0,
        by_skills: false,
    };
    assert!(s.queue(scope, QueueView::All).await.unwrap().is_empty());
    let state = s.bot_context(conv).await.unwrap().unwrap().state.unwrap();
    assert_eq!(state.phase, BotPhase::Bot);
    assert!(state.away_sent);

    // Handed over: people have it, in the queue; the survey answer lands in export.
    s.hand_over(conv, "asked for an agent", 11_000)
        .await
        .unwrap();
    let queue = s.queue(scope, QueueView::All).await.unwrap();
    assert_eq!(queue.len(), 1);
    let state = s.bot_context(conv).await.unwrap().unwrap().state.unwrap();
    assert_eq!(state.phase, BotPhase::People);
    assert_eq!(state.reason.as_deref(), Some("asked for an agent"));
    s.close(conv).await.unwrap();
    s.record_survey(conv, 4, 12_000).await.unwrap();
    let exported = s.export(linked.account_id, i64::MIN).await.unwrap();
    assert_eq!(exported[0].survey_score, Some(4));
    assert_eq!(exported[0].status, "closed");
}

async fn migrate_says_where_the_schema_stands(db: Db) {
    let url = db.pg.as_ref().map(|p| p.url.clone());
    // Opening applied everything: nothing left to do.
    let again = store::migrate(url.as_deref(), db.dir.path()).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    assert!(again.version >= 11, "{again:?}");
    assert_eq!(
        again.engine,
        if url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    // A fresh database gets every migration, in order.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh_pg = match url {
        Some(_) => Some(PgDb::create().await),
        None => None,
    };
    let fresh = store::migrate(fresh_pg.as_ref().map(|p| p.url.as_str()), fresh_dir.path())
        .await
        .unwrap();
    assert_eq!(fresh.applied.first(), Some(&1));
    assert!(fresh.applied.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(fresh.version, again.version);
}

async fn brand(store: &dyn Store, number: &str) -> LinkedAccount {
    let account = store.ensure_account(number, "Acme", true).await.unwrap();
    let skill = store.ensure_skill(account.id, "social").await.unwrap();
    store
        .link(NewLink {
            account_id: account.id,
            channel: Channel::Facebook,
            network_id: &format!("page-{number}"),
            name: "AcmePage",
            token_sealed: vec![1, 2, 3],
            token_secret_sealed: None,
            skill_id: Some(skill),
            created_by: "test",
        })
        .await
        .unwrap()
}

fn line(consumer: &str, id: &str, text: &str, at: i64) -> InboundMessage {
    InboundMessage {
        channel: Channel::Facebook,
        brand_id: String::new(),
        consumer: ConsumerRef {
            network_id: consumer.into(),
            handle: None,
            name: Some(format!("Consumer {consumer}")),
        },
        network_id: id.into(),
        tag: Tag::Private,
        from_brand: false,
        text: text.into(),
        media: vec![],
        links: vec![],
        created_at_ms: at,
        reply_to: None,
        change: Change::New,
    }
}

fn reply<'a>(conversation: i64, linked: &LinkedAccount, text: &'a str) -> NewReply<'a> {
    NewReply {
        conversation_id: conversation,
        linked_account_id: linked.id,
        tag: Tag::Private,
        text,
        mode: ReplyMode::Private,
        in_reply_to: None,
        author: "agent",
        sent_by: None,
        now_ms: 1_000,
        refused: None,
        upload: None,
    }
}

/// What the Private Response rule reads: the last public line's tag, time, and whether a
/// private reply to it is sent or on its way; the tag travels with the outbox row; and the
/// page's sending restriction is kept and cleared.
async fn private_responses_are_known_per_post_or_comment_and_pages_can_be_restricted(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let post = InboundMessage {
        tag: Tag::PublicPost,
        ..line("ann", "page-1_10", "my tent leaks", 1_000)
    };
    let comment = InboundMessage {
        tag: Tag::PublicComment,
        reply_to: Some("page-1_10".into()),
        ..line("ann", "page-1_10_20", "photo here", 2_000)
    };
    let conv = store
        .ingest(&linked, &[post, comment], 2_000)
        .await
        .unwrap()
        .conversations[0];
    let last = |ctx: store::ReplyContext| ctx.last_public.unwrap();
    let l = last(store.reply_context(conv).await.unwrap().unwrap());
    assert_eq!(l.network_id, "page-1_10_20");
    assert_eq!(
        (l.line.tag, l.line.created_at_ms, l.line.answered_privately),
        (Tag::PublicComment, 2_000, false)
    );

    let private_response = |text| NewReply {
        mode: ReplyMode::PrivateResponse,
        in_reply_to: Some(("page-1_10_20", Tag::PublicComment)),
        ..reply(conv, &linked, text)
    };
    let first = store
        .enqueue_reply(private_response("sorry!"))
        .await
        .unwrap();
    let answered = || async {
        last(store.reply_context(conv).await.unwrap().unwrap())
            .line
            .answered_privately
    };
    assert!(answered().await, "on its way counts");
    let due = store.next_due("me", 1_000).await.unwrap().unwrap();
    assert_eq!(due.message_id, first);
    assert_eq!(
        (due.in_reply_to.as_deref(), due.in_reply_to_tag),
        (Some("page-1_10_20"), Some(Tag::PublicComment))
    );
    store.mark_failed("me", first, "refused").await.unwrap();
    assert!(!answered().await, "a failed one does not");
    let mut refused = private_response("too long");
    refused.refused = Some("over the limit".into());
    store.enqueue_reply(refused).await.unwrap();
    assert!(!answered().await, "nor one refused before sending");
    let second = store
        .enqueue_reply(private_response("sorry again"))
        .await
        .unwrap();
    store.mark_sent("me", second, "mid.1").await.unwrap();
    assert!(answered().await, "a sent one does");
    // A public reply to the comment is no private reply.
    let public = NewReply {
        tag: Tag::PublicComment,
        mode: ReplyMode::Public,
        in_reply_to: Some(("page-1_10", Tag::PublicPost)),
        ..reply(conv, &linked, "public")
    };
    store.enqueue_reply(public).await.unwrap();
    let post_line = InboundMessage {
        tag: Tag::PublicPost,
        ..line("ann", "page-1_30", "another post", 3_000)
    };
    store.ingest(&linked, &[post_line], 3_000).await.unwrap();
    let l = last(store.reply_context(conv).await.unwrap().unwrap());
    assert_eq!(
        (l.network_id.as_str(), l.line.tag, l.line.answered_privately),
        ("page-1_30", Tag::PublicPost, false)
    );

    let page = || async {
        store
            .linked_account(Channel::Facebook, "page-1")
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(page().await.sending_restricted_at, None);
    store
        .set_sending_restricted(linked.id, Some(9_000))
        .await
        .unwrap();
    let restricted = page().await;
    assert_eq!(restricted.sending_restricted_at, Some(9_000));
    assert_eq!(
        restricted.status,
        store::LinkStatus::Linked,
        "the link stands"
    );
    store.set_sending_restricted(linked.id, None).await.unwrap();
    assert_eq!(page().await.sending_restricted_at, None);
}

async fn users_are_unique_per_account_case_insensitively(db: Db) {
    let store = db.store.as_ref();
    let a = store.ensure_account("1", "A", true).await.unwrap();
    let b = store.ensure_account("2", "B", false).await.unwrap();
    assert_eq!(store.ensure_account("1", "other", false).await.unwrap(), a);
    assert!(!b.socialconnect_enabled);
    let new = |account_id, email, role| NewUser {
        account_id,
        email,
        name: "Ann",
        role,
        password_hash: "x",
    };
    let ann = store
        .create_user(new(Some(a.id), "ann@x.example", Role::Admin))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .create_user(new(Some(a.id), "ANN@x.example", Role::Agent))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .create_user(new(Some(b.id), "ann@x.example", Role::Agent))
            .await
            .unwrap()
            .is_some()
    );
    let found = store
        .credentials(Some(a.id), "Ann@X.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user, ann);
    assert!(
        store
            .credentials(None, "ann@x.example")
            .await
            .unwrap()
            .is_none()
    );
    // Support staff have no account, and an admin needs one.
    assert!(
        store
            .create_user(new(None, "s@sc.example", Role::Support))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .create_user(new(None, "t@sc.example", Role::Admin))
            .await
            .is_err()
    );
}

async fn sessions_are_shared_and_expire(db: Db) {
    let store = db.store.as_ref();
    let a = store.ensure_account("1", "A", true).await.unwrap();
    let user = store
        .create_user(NewUser {
            account_id: Some(a.id),
            email: "g@x.example",
            name: "G",
            role: Role::Agent,
            password_hash: "x",
        })
        .await
        .unwrap()
        .unwrap();
    store
        .create_session("h", user.id, "c", 100, 200)
        .await
        .unwrap();
    let live = store.session("h", 150).await.unwrap().unwrap();
    assert_eq!(live.user.id, user.id);
    assert_eq!(live.csrf_token, "c");
    assert_eq!(live.account.unwrap().number, "1");
    if db.pg.is_some() {
        // Signed in on one instance, recognised on another.
        let other = db.another_instance().await;
        assert_eq!(
            other.session("h", 150).await.unwrap().unwrap().user.id,
            user.id
        );
    }
    assert!(store.session("h", 200).await.unwrap().is_none());
    assert_eq!(store.purge_sessions(200).await.unwrap(), 1);
    store
        .create_session("k", user.id, "c", 100, 900)
        .await
        .unwrap();
    store.delete_session("k").await.unwrap();
    assert!(store.session("k", 150).await.unwrap().is_none());
}

async fn webhooks_are_stored_for_linked_accounts_only(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let deliver = |channel, page: &'static str, id: &'static str| async move {
        store
            .ingest_for(channel, page, &[line("ann", id, "hi", 1_000)], 2_000)
            .await
            .unwrap()
    };
    let (found, report) = deliver(Channel::Facebook, "page-1", "m1").await.unwrap();
    assert_eq!(found, linked);
    assert_eq!(report.stored, 1);
    // The same id on another network, and a page no one linked.
    assert!(deliver(Channel::Twitter, "page-1", "m2").await.is_none());
    assert!(deliver(Channel::Facebook, "page-9", "m2").await.is_none());
    // A page whose token broke still receives; an unlinked one does not.
    store
        .set_linked_status(linked.id, store::LinkStatus::TokenInvalid)
        .await
        .unwrap();
    let (found, _) = deliver(Channel::Facebook, "page-1", "m3").await.unwrap();
    assert_eq!(found.status, store::LinkStatus::TokenInvalid);
    store
        .set_linked_status(linked.id, store::LinkStatus::Unlinked)
        .await
        .unwrap();
    assert!(deliver(Channel::Facebook, "page-1", "m4").await.is_none());
    let mut stored: Vec<String> = store
        .export(linked.account_id, i64::MIN)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.messages)
        .filter_map(|m| m.network_id)
        .collect();
    stored.sort();
    assert_eq!(stored, ["m1", "m3"]);
}

async fn links_belong_to_one_brand(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    assert_eq!(linked.token_sealed, vec![1, 2, 3]);
    let other = store.ensure_account("2", "Other", true).await.unwrap();
    let err = store
        .link(NewLink {
            account_id: other.id,
            channel: Channel::Facebook,
            network_id: "page-1",
            name: "Stolen",
            token_sealed: vec![9],
            token_secret_sealed: None,
            skill_id: None,
            created_by: "test",
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another brand"), "{err}");
    store
        .set_linked_status(linked.id, store::LinkStatus::TokenInvalid)
        .await
        .unwrap();
    // Relinking by the same brand: new token, linked again, skill kept.
    let again = store
        .link(NewLink {
            account_id: linked.account_id,
            channel: Channel::Facebook,
            network_id: "page-1",
            name: "AcmePage",
            token_sealed: vec![7, 7],
            token_secret_sealed: Some(vec![8]),
            skill_id: None,
            created_by: "test",
        })
        .await
        .unwrap();
    assert_eq!(again.id, linked.id);
    assert_eq!(again.status, store::LinkStatus::Linked);
    assert_eq!(again.token_sealed, vec![7, 7]);
    assert_eq!(again.token_secret_sealed, Some(vec![8]));
    assert_eq!(again.skill_id, linked.skill_id);
    assert_eq!(
        store.linked_accounts(Channel::Facebook).await.unwrap(),
        vec![again.clone()]
    );
    assert!(
        store
            .linked_accounts(Channel::Twitter)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn ingest_is_idempotent_and_applies_edits_and_removals(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let batch = vec![
        line("ann", "m1", "hello", 1_000),
        line("ann", "m2", "my order", 2_000),
        line("bob", "m3", "hi", 1_500),
    ];
    let first = store.ingest(&linked, &batch, 5_000).await.unwrap();
    assert_eq!((first.stored, first.duplicates), (3, 0));
    assert_eq!(first.conversations.len(), 2);
    let again = store.ingest(&linked, &batch, 6_000).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 3));
    assert!(again.conversations.is_empty());

    let mut edit = line("ann", "m1", "hello there", 1_000);
    edit.change = Change::Edited;
    let mut removal = line("ann", "m2", "", 2_000);
    removal.change = Change::Removed;
    let changed = store
        .ingest(&linked, &[edit, removal], 7_000)
        .await
        .unwrap();
    assert_eq!(changed.updated, 2);
    let ann = first.conversations[0];
    assert_eq!(changed.conversations, vec![ann]);
    let t = store.transcript(ann).await.unwrap().unwrap();
    let lines: Vec<(&str, bool, bool)> = t
        .lines
        .iter()
        .map(|l| (l.text.as_str(), l.edited, l.removed))
        .collect();
    assert_eq!(
        lines,
        vec![("hello there", true, false), ("my order", false, true)]
    );
    assert_eq!(t.consumer.name.as_deref(), Some("Consumer ann"));
    assert_eq!(t.lines[0].created_at, "1970-01-01T00:00:01.000Z");

    let export = store.export(linked.account_id, i64::MIN).await.unwrap();
    assert_eq!(export.len(), 2);
    assert_eq!(export[0].messages.len(), 2);
    assert_eq!(export[0].account, "1");
    assert_eq!(export[0].skill.as_deref(), Some("social"));
    assert!(
        store
            .export(linked.account_id, 1_000_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_redeliveries_store_each_line_once(db: Db) {
    // The same events delivered many times at once (to one instance, or to several on
    // PostgreSQL, each grouping what reaches it at once in one transaction): each line is
    // stored once.
    let linked = brand(db.store.as_ref(), "1").await;
    let mut stores = vec![db.store.clone()];
    if db.pg.is_some() {
        stores.push(db.another_instance().await);
    }
    let mut tasks = Vec::new();
    for sender in 0..8 {
        let store = stores[sender % stores.len()].clone();
        let linked = linked.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for i in 0..40 {
                // Consumers overlap between senders and are visited in different orders.
                let k = if sender % 2 == 0 { i } else { 39 - i };
                let batch = vec![
                    line(&format!("c{}", k % 5), &format!("m{k}"), "x", k),
                    line(&format!("c{}", (k + 1) % 5), &format!("n{k}"), "y", k),
                ];
                // Half the senders name the page, as webhooks do, the others the linked
                // account.
                stored += if sender % 4 < 2 {
                    store.ingest(&linked, &batch, 1).await.unwrap().stored
                } else {
                    let (_, report) = store
                        .ingest_for(Channel::Facebook, "page-1", &batch, 1)
                        .await
                        .unwrap()
                        .unwrap();
                    report.stored
                };
            }
            stored
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await.unwrap();
    }
    assert_eq!(stored, 80);
    let export = db.store.export(linked.account_id, i64::MIN).await.unwrap();
    assert_eq!(export.len(), 5);
    let lines: usize = export.iter().map(|c| c.messages.len()).sum();
    assert_eq!(lines, 80);
}

async fn queue_take_and_close(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let agent = store
        .create_user(NewUser {
            account_id: Some(linked.account_id),
            email: "a@x.example",
            name: "Agnes",
            role: Role::Agent,
            password_hash: "x",
        })
        .await
        .unwrap()
        .unwrap();
    let other = store
        .create_user(NewUser {
            account_id: Some(linked.account_id),
            email: "o@x.example",
            name: "Otto",
            role: Role::Agent,
            password_hash: "x",
        })
        .await
        .unwrap()
        .unwrap();
    let report = store
        .ingest(
            &linked,
            &[
                line("ann", "m1", "old", 1_000),
                line("bob", "m2", "new", 2_000),
            ],
            3_000,
        )
        .await
        .unwrap();
    let (ann, bob) = (report.conversations[0], report.conversations[1]);
    let scope = QueueScope {
        account_id: linked.account_id,
        user_id: agent.id,
        by_skills: true,
    };
    let ids = |items: Vec<shared::api::QueueItem>| items.iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.queue(scope, QueueView::New).await.unwrap()),
        vec![bob, ann]
    );
    let first = &store.queue(scope, QueueView::New).await.unwrap()[0];
    assert_eq!(first.last.as_ref().unwrap().text, "new");
    assert!(first.new);
    // An agent whose skills do not include the conversation's does not see it.
    let elsewhere = store
        .ensure_skill(linked.account_id, "elsewhere")
        .await
        .unwrap();
    store
        .set_user_skills(agent.id, false, &[elsewhere])
        .await
        .unwrap();
    assert!(store.queue(scope, QueueView::New).await.unwrap().is_empty());
    store
        .set_user_skills(agent.id, false, &[elsewhere, linked.skill_id.unwrap()])
        .await
        .unwrap();

    assert_eq!(store.take(ann, agent.id).await.unwrap(), TakeOutcome::Taken);
    assert_eq!(store.take(ann, agent.id).await.unwrap(), TakeOutcome::Taken);
    assert_eq!(
        store.take(ann, other.id).await.unwrap(),
        TakeOutcome::Refused
    );
    assert_eq!(
        ids(store.queue(scope, QueueView::Mine).await.unwrap()),
        vec![ann]
    );
    assert_eq!(
        ids(store.queue(scope, QueueView::New).await.unwrap()),
        vec![bob]
    );
    assert_eq!(store.queue(scope, QueueView::All).await.unwrap().len(), 2);
    let info = store.conversation_info(ann).await.unwrap().unwrap();
    assert_eq!(info.assigned_to.unwrap().name, "Agnes");
    assert_eq!(info.skill.as_deref(), Some("social"));
    assert_eq!(
        store.conversation_account(ann).await.unwrap(),
        Some(linked.account_id)
    );

    store.close(ann).await.unwrap();
    assert_eq!(
        store.take(ann, agent.id).await.unwrap(),
        TakeOutcome::Refused
    );
    assert_eq!(store.queue(scope, QueueView::All).await.unwrap().len(), 1);
    // A new line reopens it, unassigned.
    store
        .ingest(&linked, &[line("ann", "m3", "again", 4_000)], 5_000)
        .await
        .unwrap();
    assert_eq!(
        ids(store.queue(scope, QueueView::New).await.unwrap()),
        vec![ann, bob]
    );
}

async fn outbox_sends_in_order_per_conversation(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let report = store
        .ingest(
            &linked,
            &[line("ann", "m1", "a", 1_000), line("bob", "m2", "b", 1_000)],
            1_000,
        )
        .await
        .unwrap();
    let (ann, bob) = (report.conversations[0], report.conversations[1]);
    let a1 = store
        .enqueue_reply(reply(ann, &linked, "a1"))
        .await
        .unwrap();
    let b1 = store
        .enqueue_reply(reply(bob, &linked, "b1"))
        .await
        .unwrap();
    let a2 = store
        .enqueue_reply(reply(ann, &linked, "a2"))
        .await
        .unwrap();
    let mut refused = reply(ann, &linked, "too long");
    refused.refused = Some("over the limit".into());
    let r = store.enqueue_reply(refused).await.unwrap();
    assert_eq!(
        store.line_status(r).await.unwrap(),
        Some(("failed".into(), Some("over the limit".into())))
    );

    // Not due before its time.
    assert!(store.next_due(ME, 999).await.unwrap().is_none());
    let first = store.next_due(ME, 1_000).await.unwrap().unwrap();
    assert_eq!((first.message_id, first.text.as_str()), (a1, "a1"));
    assert_eq!(first.consumer_network_id, "ann");
    assert_eq!(first.linked.id, linked.id);
    assert_eq!(first.last_private_at_ms, Some(1_000));
    // A transient failure: a2 waits behind a1, b1 goes.
    assert!(store.reschedule(ME, a1, 1, 5_000, "503").await.unwrap());
    let next = store.next_due(ME, 2_000).await.unwrap().unwrap();
    assert_eq!(next.message_id, b1);
    assert_eq!(
        store.mark_sent(ME, b1, "net-b1").await.unwrap(),
        MarkedSent::Sent
    );
    assert!(store.next_due(ME, 2_000).await.unwrap().is_none());
    let retry = store.next_due(ME, 5_000).await.unwrap().unwrap();
    assert_eq!((retry.message_id, retry.attempts), (a1, 1));
    assert!(store.set_media_sent(ME, a1, "net-img").await.unwrap());
    assert_eq!(
        store.mark_sent(ME, a1, "net-a1").await.unwrap(),
        MarkedSent::Sent
    );
    let last = store.next_due(ME, 5_000).await.unwrap().unwrap();
    assert_eq!(last.message_id, a2);
    assert!(
        store
            .mark_failed(ME, a2, "refused by the network")
            .await
            .unwrap()
    );
    assert!(store.next_due(ME, i64::MAX / 2).await.unwrap().is_none());
    assert_eq!(
        store.line_status(a1).await.unwrap(),
        Some(("sent".into(), None))
    );
    assert_eq!(
        store.line_status(a2).await.unwrap(),
        Some(("failed".into(), Some("refused by the network".into())))
    );
    let export = store.export(linked.account_id, i64::MIN).await.unwrap();
    let sent: Vec<_> = export
        .iter()
        .flat_map(|c| &c.messages)
        .filter(|m| m.direction == "out")
        .map(|m| (m.text.as_str(), m.network_id.as_deref(), m.status.as_str()))
        .collect();
    assert!(sent.contains(&("a1", Some("net-a1"), "sent")), "{sent:?}");
    assert!(sent.contains(&("b1", Some("net-b1"), "sent")), "{sent:?}");
}

async fn brand_echo_settles_a_pending_reply(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let report = store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap();
    let ann = report.conversations[0];
    let id = store
        .enqueue_reply(reply(ann, &linked, "on its way"))
        .await
        .unwrap();
    // The network's echo of our reply arrives before the sender recorded its id.
    let mut echo = line("ann", "echo-1", "on its way", 2_000);
    echo.from_brand = true;
    let r = store.ingest(&linked, &[echo], 2_000).await.unwrap();
    assert_eq!((r.stored, r.duplicates), (0, 1));
    assert_eq!(
        store.line_status(id).await.unwrap(),
        Some(("sent".into(), None))
    );
    assert!(store.next_due(ME, i64::MAX / 2).await.unwrap().is_none());
    // A brand line answering nothing we know is not stored.
    let mut stray = line("", "stray", "hello world", 3_000);
    stray.from_brand = true;
    assert_eq!(
        store
            .ingest(&linked, &[stray], 3_000)
            .await
            .unwrap()
            .unmatched,
        1
    );
}

async fn media_copies_are_leased_and_recorded(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let mut m = line("ann", "m1", "look", 1_000);
    m.media = vec![
        MediaRef {
            kind: MediaKind::Image,
            url: Some("https://cdn.example/a.jpg".into()),
            mime: None,
            poster_url: None,
        },
        MediaRef {
            kind: MediaKind::Video,
            url: Some("https://cdn.example/b.mp4".into()),
            mime: None,
            poster_url: Some("https://cdn.example/b.jpg".into()),
        },
        MediaRef {
            kind: MediaKind::File,
            url: None,
            mime: None,
            poster_url: None,
        },
    ];
    store.ingest(&linked, &[m], 1_000).await.unwrap();
    let due = store.media_due(1_000, 60_000, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    // Leased: not due again until the lease ends.
    assert!(
        store
            .media_due(59_999, 120_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (img, vid) = (&due[0], &due[1]);
    assert_eq!(img.linked, linked);
    assert_eq!(vid.poster_url.as_deref(), Some("https://cdn.example/b.jpg"));
    store
        .media_stored(
            img.id,
            &MediaCopy {
                mime: "image/jpeg".into(),
                bytes: 1234,
                stored_path: "media/1".into(),
                thumb_path: Some("media/1.thumb".into()),
                still_path: None,
                poster_path: None,
            },
        )
        .await
        .unwrap();
    store.media_retry(vid.id, 70_000, "timeout").await.unwrap();
    let again = store.media_due(70_000, 130_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store
        .media_refused(
            vid.id,
            MediaStatus::Rejected,
            "too large",
            Some("video/mp4"),
            Some(9),
        )
        .await
        .unwrap();
    let rec = store.media_record(img.id).await.unwrap().unwrap();
    assert_eq!(rec.status, MediaStatus::Stored);
    assert_eq!(rec.bytes, Some(1234));
    assert_eq!(rec.thumb_path.as_deref(), Some("media/1.thumb"));
    let rec = store.media_record(vid.id).await.unwrap().unwrap();
    assert_eq!(
        (
            rec.status,
            rec.error.as_deref(),
            rec.mime.as_deref(),
            rec.attempts
        ),
        (
            MediaStatus::Rejected,
            Some("too large"),
            Some("video/mp4"),
            2
        )
    );
    let t = store
        .transcript(again[0].conversation_id)
        .await
        .unwrap()
        .unwrap();
    let urls: Vec<Option<String>> = t.lines[0].media.iter().map(|m| m.url.clone()).collect();
    assert_eq!(
        urls,
        vec![Some(format!("/media/{}", img.id)), None, None],
        "ours once copied; nothing for refused bytes or a missing address"
    );
}

async fn profiles_due_are_marked_tried(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let report = store
        .ingest(
            &linked,
            &[line("ann", "m1", "a", 1_000), line("bob", "m2", "b", 1_000)],
            1_000,
        )
        .await
        .unwrap();
    let due = store.profiles_due(10_000, 0, 5_000, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].conversation_id, Some(report.conversations[0]));
    assert_eq!(due[0].linked.id, linked.id);
    // Tried just now: not due again until the retry time passes.
    assert!(
        store
            .profiles_due(10_001, 0, 5_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .set_profile(
            due[0].consumer_id,
            Some("Ann Lee"),
            Some("ann"),
            &serde_json::json!({"locale": "en_GB"}),
            10_000,
        )
        .await
        .unwrap();
    let again = store.profiles_due(20_000, 0, 15_000, 10).await.unwrap();
    assert_eq!(again.len(), 1, "only the one never fetched");
    let export = store.export(linked.account_id, i64::MIN).await.unwrap();
    assert_eq!(export[0].consumer.name.as_deref(), Some("Ann Lee"));
    assert_eq!(export[0].consumer.profile["locale"], "en_GB");
}

async fn uploads_travel_with_replies_into_transcript_and_export(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let report = store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap();
    let id = store
        .create_upload(linked.account_id, "image/gif", 2048, "uploads/x.gif", 1_000)
        .await
        .unwrap();
    let upload = store.upload(id).await.unwrap().unwrap();
    assert!(upload.is_gif());
    assert!(store.upload(id + 1000).await.unwrap().is_none());
    let mut r = reply(report.conversations[0], &linked, "");
    r.upload = Some(&upload);
    store.enqueue_reply(r).await.unwrap();
    let item = store.next_due(ME, 1_000).await.unwrap().unwrap();
    assert_eq!(item.upload, Some(upload));
    let export = store.export(linked.account_id, i64::MIN).await.unwrap();
    let media = &export[0].messages[1].media;
    assert_eq!(media.len(), 1);
    assert_eq!(
        (media[0].kind.as_str(), media[0].bytes),
        ("gif", Some(2048))
    );
}

async fn a_newer_schema_is_refused(db: Db) {
    let store = db.store.as_ref();
    store.ensure_account("1", "A", true).await.unwrap();
    // A newer build migrated this database further.
    let mark =
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                VALUES (99990001, 'from the future', TRUE, '\\x00', 0)";
    let reopened = match &db.pg {
        Some(pg) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query(&mark.replace("'\\x00'", "'\\x00'::bytea"))
                .execute(&mut c)
                .await
                .unwrap();
            store::open(Some(&pg.url), db.dir.path()).await
        }
        None => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!(
                "sqlite://{}",
                db.dir.path().join("socialconnect.db").display()
            ))
            .await
            .unwrap();
            sqlx::query(&mark.replace("'\\x00'", "x'00'"))
                .execute(&mut c)
                .await
                .unwrap();
            store::open(None, db.dir.path()).await
        }
    };
    let err = reopened
        .err()
        .expect("a newer schema must be refused")
        .to_string();
    assert!(err.contains("99990001") && err.contains("newer"), "{err}");
    let err = store::migrate(db.pg.as_ref().map(|p| p.url.as_str()), db.dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("newer"), "{err}");
}

async fn a_facebook_persons_two_ids_become_one_conversation(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let mut comment = line("feed-ann", "c1", "the zip broke", 1_000);
    comment.tag = Tag::PublicComment;
    let feed = store
        .ingest(&linked, &[comment], 1_000)
        .await
        .unwrap()
        .conversations[0];
    // Not profiled until Facebook gives her page-scoped id.
    assert!(
        store
            .profiles_due(10_000, 0, 5_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let messenger = store
        .ingest(&linked, &[line("psid-ann", "m1", "hello?", 2_000)], 2_000)
        .await
        .unwrap()
        .conversations[0];
    assert_ne!(feed, messenger);
    let waiting = store
        .enqueue_reply(reply(messenger, &linked, "on it"))
        .await
        .unwrap();
    // A private reply to her comment names her PSID: the two conversations become one.
    assert_eq!(
        store.learn_psid(feed, "psid-ann").await.unwrap(),
        Some(messenger)
    );
    assert_eq!(store.learn_psid(feed, "psid-ann").await.unwrap(), None);
    assert!(store.conversation_info(messenger).await.unwrap().is_none());
    let texts: Vec<String> = store
        .transcript(feed)
        .await
        .unwrap()
        .unwrap()
        .lines
        .into_iter()
        .map(|l| l.text)
        .collect();
    // In time order (the reply helper writes at 1 s).
    assert_eq!(texts, vec!["the zip broke", "on it", "hello?"]);
    let item = store.next_due(ME, 1_000).await.unwrap().unwrap();
    assert_eq!(
        (
            item.message_id,
            item.conversation_id,
            item.consumer_network_id.as_str()
        ),
        (waiting, feed, "psid-ann")
    );
    let ctx = store.reply_context(feed).await.unwrap().unwrap();
    assert_eq!(ctx.consumer_network_id, "psid-ann");
    assert_eq!(ctx.last_private_at_ms, Some(2_000));
    // Her next Messenger line lands in the one conversation.
    let next = store
        .ingest(&linked, &[line("psid-ann", "m2", "thanks", 3_000)], 3_000)
        .await
        .unwrap();
    assert_eq!(next.conversations, vec![feed]);
    let due = store.profiles_due(10_000, 0, 5_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].network_id, "psid-ann");
}

/// Several instances' senders working one outbox at once: every reply claimed by exactly
/// one of them, and a conversation's replies one after the other, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_claims_are_exclusive_across_instances_postgres() {
    let db = Db::postgres().await;
    let linked = brand(db.store.as_ref(), "1").await;
    let batch: Vec<_> = (0..10)
        .map(|c| line(&format!("c{c}"), &format!("m{c}"), "hi", 1_000))
        .collect();
    let convs = db
        .store
        .ingest(&linked, &batch, 1_000)
        .await
        .unwrap()
        .conversations;
    let mut written: HashMap<i64, Vec<i64>> = HashMap::new();
    for n in 0..20 {
        for &c in &convs {
            let text = format!("{c}-{n}");
            let id = db
                .store
                .enqueue_reply(reply(c, &linked, &text))
                .await
                .unwrap();
            written.entry(c).or_default().push(id);
        }
    }
    let instances = [
        db.store.clone(),
        db.another_instance().await,
        db.another_instance().await,
    ];
    let sent = Arc::new(std::sync::Mutex::new(Vec::<(i64, i64)>::new()));
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = instances[w % instances.len()].clone();
        let sent = sent.clone();
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                match store.next_due(ME, 1_000).await.unwrap() {
                    Some(item) => {
                        idle = 0;
                        sent.lock()
                            .unwrap()
                            .push((item.conversation_id, item.message_id));
                        store
                            .mark_sent(ME, item.message_id, &format!("net-{}", item.message_id))
                            .await
                            .unwrap();
                    }
                    None => {
                        idle += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    let unique: HashSet<i64> = sent.iter().map(|(_, m)| *m).collect();
    assert_eq!(sent.len(), 200, "each reply claimed once");
    assert_eq!(unique.len(), 200);
    let mut order: HashMap<i64, Vec<i64>> = HashMap::new();
    for (c, m) in sent {
        order.entry(c).or_default().push(m);
    }
    assert_eq!(order, written, "in the order written, per conversation");
}

/// An instance that claimed a reply and died: another takes it over when the lease ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_claim_runs_out_postgres() {
    let db = Db::postgres().await;
    let linked = brand(db.store.as_ref(), "1").await;
    let c = db
        .store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap()
        .conversations[0];
    let id = db
        .store
        .enqueue_reply(reply(c, &linked, "r"))
        .await
        .unwrap();
    let claimed = db.store.next_due(ME, 1_000).await.unwrap().unwrap();
    assert_eq!(claimed.message_id, id);
    // The claimant vanishes. Within the lease (120 s by default) nobody else takes it.
    let other = db.another_instance().await;
    assert!(
        other
            .next_due(OTHER, 1_000 + 119_000)
            .await
            .unwrap()
            .is_none()
    );
    let taken = other
        .next_due(OTHER, 1_000 + 120_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.message_id, id);
}

/// Two brands linking the same page at once through two instances: one holds it, the
/// other is refused, and the page keeps the holder's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_linked_to_one_brand_under_contention_postgres() {
    let db = Db::postgres().await;
    let stores = [db.store.clone(), db.another_instance().await];
    let mut brands = Vec::new();
    for n in ["1", "2"] {
        brands.push(stores[0].ensure_account(n, n, true).await.unwrap().id);
    }
    for round in 0..20 {
        let page = format!("contested-{round}");
        let mut tasks = Vec::new();
        for (i, &account_id) in brands.iter().enumerate() {
            let (store, page) = (stores[i].clone(), page.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .link(NewLink {
                        account_id,
                        channel: Channel::Facebook,
                        network_id: &page,
                        name: "Contested",
                        token_sealed: vec![i as u8],
                        token_secret_sealed: None,
                        skill_id: None,
                        created_by: "test",
                    })
                    .await
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            if let Ok(linked) = t.await.unwrap() {
                won.push(linked);
            }
        }
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one brand holds the page"
        );
        let held = db
            .store
            .linked_account(Channel::Facebook, &page)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held, won[0]);
    }
}

async fn shared_links_are_stored_shown_and_exported_not_fetched(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let mut m = line("ann", "m1", "look at this", 1_000);
    m.links = vec![
        SharedLink {
            title: Some("Trail shoes".into()),
            url: "https://shop.example/p?id=1".into(),
        },
        SharedLink {
            title: None,
            url: "http://127.0.0.1:9/internal".into(),
        },
    ];
    let c = store
        .ingest(&linked, &[m.clone()], 1_000)
        .await
        .unwrap()
        .conversations[0];
    // Redelivered: stored once.
    store.ingest(&linked, &[m.clone()], 2_000).await.unwrap();
    let t = store.transcript(c).await.unwrap().unwrap();
    assert_eq!(t.lines.len(), 1);
    assert_eq!(t.lines[0].links, m.links);
    assert!(t.lines[0].media.is_empty(), "a link is not media");
    assert!(
        store
            .media_due(10_000, 20_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing to fetch"
    );
    let exported = store.export(linked.account_id, i64::MIN).await.unwrap();
    let json = serde_json::to_value(&exported[0].messages[0]).unwrap();
    assert_eq!(
        json["links"],
        serde_json::json!([
            {"title": "Trail shoes", "url": "https://shop.example/p?id=1"},
            {"url": "http://127.0.0.1:9/internal"}
        ])
    );
    assert_eq!(json["media"], serde_json::json!([]));
}

async fn profile_pictures_are_copied_like_media_and_shown_as_ours(db: Db) {
    let store = db.store.as_ref();
    let linked = brand(store, "1").await;
    let c = store
        .ingest(&linked, &[line("ann", "m1", "hi", 1_000)], 1_000)
        .await
        .unwrap()
        .conversations[0];
    let due = store.profiles_due(10_000, 0, 5_000, 10).await.unwrap();
    let consumer = due[0].consumer_id;
    let network = "https://scontent.xx.fbcdn.net/v/ann.jpg?oe=1";
    store
        .set_profile(
            consumer,
            Some("Ann"),
            None,
            &serde_json::json!({"name": "Ann", "profile_pic": network}),
            10_000,
        )
        .await
        .unwrap();
    store.copy_picture(consumer, network).await.unwrap();
    let shown = |t: shared::api::Transcript| t.consumer.profile.profile_pic;
    assert_eq!(
        shown(store.transcript(c).await.unwrap().unwrap()).as_deref(),
        Some(network),
        "the network's until a copy is made"
    );
    let picture = store.media_due(10_000, 20_000, 10).await.unwrap();
    assert_eq!(picture.len(), 1, "{picture:?}");
    let p = &picture[0];
    assert_eq!(
        (
            p.kind,
            p.source_url.as_str(),
            p.conversation_id,
            p.linked.id
        ),
        (MediaKind::Image, network, c, linked.id)
    );
    store
        .media_stored(
            p.id,
            &MediaCopy {
                mime: "image/jpeg".into(),
                bytes: 10,
                stored_path: format!("media/{}", p.id),
                thumb_path: None,
                still_path: None,
                poster_path: None,
            },
        )
        .await
        .unwrap();
    let ours = format!("/media/{}", p.id);
    assert_eq!(
        shown(store.transcript(c).await.unwrap().unwrap()).as_deref(),
        Some(ours.as_str())
    );
    let rec = store.media_record(p.id).await.unwrap().unwrap();
    assert_eq!(
        rec.account_id, linked.account_id,
        "served to the brand's people"
    );
    assert!(rec.of_consumer);
    assert!(
        t_lines_have_no_media(store, c).await,
        "a picture is no line's media"
    );

    // A refreshed profile copies the picture again, into the same item; the copy made
    // before is still shown meanwhile.
    store
        .copy_picture(consumer, &format!("{network}&v=2"))
        .await
        .unwrap();
    let again = store.media_due(30_000, 40_000, 10).await.unwrap();
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [p.id]);
    assert_eq!(
        shown(store.transcript(c).await.unwrap().unwrap()).as_deref(),
        Some(ours.as_str())
    );
}

async fn t_lines_have_no_media(store: &dyn Store, c: i64) -> bool {
    let t = store.transcript(c).await.unwrap().unwrap();
    t.lines.iter().all(|l| l.media.is_empty())
}

/// Migration 12 lets a media item belong to a consumer (a profile picture): items made
/// before it keep every column, and go on being served and fetched.
async fn media_survive_the_move_to_owners_of_two_kinds(db: Db) {
    let on_postgres = db.pg.is_some();
    drop(db);
    let before_12 = |dir: &str| {
        let path =
            std::path::PathBuf::from(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")));
        async move {
            let mut m = sqlx::migrate::Migrator::new(path).await.unwrap();
            m.migrations = m
                .migrations
                .iter()
                .filter(|m| m.version < 12)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            m
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let pg = match on_postgres {
        true => Some(PgDb::create().await),
        false => None,
    };
    let seed = "INSERT INTO accounts (number, name, socialconnect_enabled, created_at)
                    VALUES ('1', 'A', TRUE, 0);
                INSERT INTO linked_accounts (account_id, channel, network_id, name, token_sealed,
                                             created_at, created_by)
                    VALUES (1, 'facebook', '11', 'p', 'x', 0, 't');
                INSERT INTO consumers (linked_account_id, network_id) VALUES (1, '22');
                INSERT INTO conversations (linked_account_id, consumer_id, created_at,
                                           last_message_at) VALUES (1, 1, 0, 0);
                INSERT INTO messages (conversation_id, linked_account_id, network_id, tag,
                                      direction, author, status, created_at, received_at)
                    VALUES (1, 1, 'm_1', 'Private', 'in', 'consumer', 'received', 0, 0);
                INSERT INTO media (message_id, kind, mime, bytes, source_url, stored_path,
                                   status, attempts, thumb_path, poster_url)
                    VALUES (1, 'image', 'image/png', 7, 'https://x.fbcdn.net/a.png',
                            'media/1', 'stored', 1, 'media/1-thumb.png', 'https://p');
                INSERT INTO media (message_id, kind, source_url)
                    VALUES (1, 'video', 'https://x.fbcdn.net/b.mp4');";
    let store = match &pg {
        Some(pg) => {
            let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
            before_12("postgres").await.run(&pool).await.unwrap();
            sqlx::raw_sql(&seed.replace("'x'", "'\\x78'::bytea"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            store::open(Some(&pg.url), dir.path()).await.unwrap()
        }
        None => {
            let path = dir.path().join("socialconnect.db");
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            before_12("sqlite").await.run(&pool).await.unwrap();
            sqlx::raw_sql(seed).execute(&pool).await.unwrap();
            pool.close().await;
            store::open(None, dir.path()).await.unwrap()
        }
    };
    let kept = store.media_record(1).await.unwrap().unwrap();
    assert_eq!(
        (
            kept.status,
            kept.mime.as_deref(),
            kept.bytes,
            kept.attempts,
            kept.stored_path.as_deref(),
            kept.thumb_path.as_deref(),
            kept.of_consumer,
            kept.account_id
        ),
        (
            MediaStatus::Stored,
            Some("image/png"),
            Some(7),
            1,
            Some("media/1"),
            Some("media/1-thumb.png"),
            false,
            1
        )
    );
    let due = store.media_due(1, 100, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| (d.id, d.kind)).collect::<Vec<_>>(),
        [(2, MediaKind::Video)]
    );
    // Messages' media still go with their line.
    let t = store.transcript(1).await.unwrap().unwrap();
    assert_eq!(t.lines[0].media.len(), 2);
    drop(store);
}

fn link(token_hash: &str, now: i64) -> store::PasswordLink<'_> {
    store::PasswordLink {
        token_hash,
        now,
        expires_at: now + 100,
    }
}

async fn set_password_links_are_single_use_and_expire(db: Db) {
    let store = db.store.as_ref();
    let account = store
        .ensure_account("77", "Seventy", false)
        .await
        .unwrap()
        .id;
    let of = store::PeopleOf::Account(account);
    let person = |email| store::NewPerson {
        of,
        email,
        name: "Ida",
        role: Role::Agent,
    };
    let ida = store
        .invite(person("ida@x.example"), link("h1", 1_000))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .invite(person("IDA@x.example"), link("h2", 1_000))
            .await
            .unwrap()
            .is_none(),
        "one email per account"
    );
    let listed = store.people_of(Some(of)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, shared::home::PersonStatus::Invited);
    // An invited person has no password that verifies, and no sign-in.
    assert!(
        store
            .credentials(Some(account), "ida@x.example")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.password_link_user("h1", 1_050).await.unwrap(),
        Some(ida.clone())
    );
    assert_eq!(
        store.password_link_user("h1", 1_100).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store
            .redeem_password_link("h1", 1_100, "hash")
            .await
            .unwrap(),
        None
    );

    // A new link replaces the unused one; redeemed once, by one of two at the same time.
    store
        .new_password_link(ida.id, link("h3", 2_000))
        .await
        .unwrap();
    assert_eq!(store.password_link_user("h1", 1_050).await.unwrap(), None);
    let (a, b) = tokio::join!(
        store.redeem_password_link("h3", 2_010, "hash-a"),
        store.redeem_password_link("h3", 2_010, "hash-b"),
    );
    let winners: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(winners, vec![ida.clone()]);
    assert_eq!(
        store
            .redeem_password_link("h3", 2_020, "hash-c")
            .await
            .unwrap(),
        None
    );
    let creds = store
        .credentials(Some(account), "ida@x.example")
        .await
        .unwrap()
        .unwrap();
    assert!(["hash-a", "hash-b"].contains(&creds.password_hash.as_str()));
    store.record_sign_in(ida.id, 2_030).await.unwrap();
    let p = store.person(of, ida.id).await.unwrap().unwrap();
    assert_eq!(
        (p.status, p.last_sign_in_at),
        (shared::home::PersonStatus::Active, Some(2_030))
    );

    // Deactivated: no sign-in, no session, no link; reactivated: signs in again.
    store
        .create_session("s", ida.id, "c", 2_040, 9_000)
        .await
        .unwrap();
    store
        .new_password_link(ida.id, link("h4", 2_050))
        .await
        .unwrap();
    store.set_active(ida.id, false).await.unwrap();
    assert!(store.session("s", 2_060).await.unwrap().is_none());
    assert!(
        store
            .credentials(Some(account), "ida@x.example")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.password_link_user("h4", 2_060).await.unwrap(), None);
    assert!(
        store
            .new_password_link(ida.id, link("h5", 2_070))
            .await
            .is_err()
    );
    store.set_active(ida.id, true).await.unwrap();
    assert!(
        store
            .credentials(Some(account), "ida@x.example")
            .await
            .unwrap()
            .is_some()
    );

    // Support staff are their own people.
    let support = store::NewPerson {
        of: store::PeopleOf::Support,
        email: "sue@sc.example",
        name: "Sue",
        role: Role::Support,
    };
    store
        .invite(support, link("h6", 3_000))
        .await
        .unwrap()
        .unwrap();
    let staff = store
        .people_of(Some(store::PeopleOf::Support))
        .await
        .unwrap();
    assert_eq!(staff.len(), 1);
    assert_eq!(
        (staff[0].account_number.as_deref(), staff[0].user.role),
        (None, Role::Support)
    );
    assert_eq!(store.people_of(None).await.unwrap().len(), 2);
}

async fn the_last_active_admin_stays_an_active_admin(db: Db) {
    let store = db.store.as_ref();
    let account = store.ensure_account("78", "Eighty", true).await.unwrap().id;
    let user = |email, role| NewUser {
        account_id: Some(account),
        email,
        name: "N",
        role,
        password_hash: "x",
    };
    let ann = store
        .create_user(user("ann@x.example", Role::Admin))
        .await
        .unwrap()
        .unwrap();
    let bo = store
        .create_user(user("bo@x.example", Role::Agent))
        .await
        .unwrap()
        .unwrap();
    let last = |r: Result<(), store::StoreError>| matches!(r, Err(store::StoreError::Conflict(m)) if m.contains("last admin"));
    assert!(last(store.set_active(ann.id, false).await));
    assert!(last(store.set_role(ann.id, Role::Agent).await));
    store.set_role(bo.id, Role::Admin).await.unwrap();
    store.set_role(ann.id, Role::Agent).await.unwrap();
    assert!(last(store.set_active(bo.id, false).await));
    // An admin who is deactivated does not count.
    store.set_role(ann.id, Role::Admin).await.unwrap();
    store.set_active(ann.id, false).await.unwrap();
    assert!(last(store.set_role(bo.id, Role::Agent).await));
    assert!(store.set_role(bo.id, Role::Support).await.is_err());
}

/// An instance of its own on `db`'s database, as the concrete engine (for its count of
/// ingest commits).
async fn pg_instance(db: &Db) -> Arc<store::PgStore> {
    let url = &db.pg.as_ref().expect("PostgreSQL").url;
    Arc::new(
        store::PgStore::connect(url, std::time::Duration::from_secs(60))
            .await
            .unwrap(),
    )
}

/// Holds every writer out of `messages` until dropped (or `release`d), so that webhooks
/// arriving meanwhile wait for the instance's writer together, as under load.
struct MessagesLocked(sqlx::PgConnection);

impl MessagesLocked {
    async fn take(db: &Db) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.pg.as_ref().unwrap().url)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE messages IN SHARE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        MessagesLocked(conn)
    }

    async fn release(mut self) {
        sqlx::raw_sql("COMMIT").execute(&mut self.0).await.unwrap();
    }
}

/// `n` webhooks sent to `instance` at once while the writer is held up: each spawned
/// task's answer; `bad` (by index) is for a linked account that is gone.
async fn webhooks_together(
    db: &Db,
    instance: &Arc<store::PgStore>,
    linked: &LinkedAccount,
    texts: &[&str],
    bad: Option<usize>,
) -> Vec<Result<store::IngestReport, store::StoreError>> {
    use server::store::Ingest;
    let lock = MessagesLocked::take(db).await;
    let mut tasks = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let (instance, text) = (instance.clone(), text.to_string());
        let target = if bad == Some(i) {
            // Unlinked and purged meanwhile: its rows break a foreign key.
            LinkedAccount {
                id: linked.id + 100,
                ..linked.clone()
            }
        } else {
            linked.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut batch = vec![line(&format!("c{}", i % 7), &format!("m{i}"), &text, 1_000)];
            if i == 0 {
                // Two lines: a transaction that holds the writer through its statements.
                batch.push(line("c0", "m0-again", &text, 1_000));
            }
            instance.ingest(&target, &batch, 2_000).await
        }));
        if i == 0 {
            // The first one takes the writer and waits on the lock; the rest queue.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // Give the rest time to queue (nothing is asserted about time).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    lock.release().await;
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

async fn stored_ids(db: &Db, linked: &LinkedAccount) -> Vec<String> {
    let mut ids: Vec<String> = db
        .store
        .export(linked.account_id, i64::MIN)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.messages)
        .filter_map(|m| m.network_id)
        .collect();
    ids.sort();
    ids
}

/// Webhooks waiting for one instance's writer are stored in one transaction (one commit),
/// each in a savepoint of its own: the one that fails is rolled back alone and answered
/// with its error, the others of its group are stored and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_arriving_together_share_one_commit_and_fail_alone_postgres() {
    let db = Db::postgres().await;
    let linked = brand(db.store.as_ref(), "1").await;
    let instance = pg_instance(&db).await;
    let texts = vec!["x"; 30];
    let answers = webhooks_together(&db, &instance, &linked, &texts, Some(17)).await;
    for (i, answer) in answers.iter().enumerate() {
        if i == 17 {
            assert!(answer.is_err(), "{answer:?}");
        } else {
            let lines = if i == 0 { 2 } else { 1 };
            assert_eq!(
                answer.as_ref().unwrap().stored,
                lines,
                "webhook {i}: {answer:?}"
            );
        }
    }
    let mut expected: Vec<String> = (0..30)
        .filter(|i| *i != 17)
        .map(|i| format!("m{i}"))
        .chain(["m0-again".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(stored_ids(&db, &linked).await, expected);
    // The first alone, the 29 that waited for its writer together (fewer, in any case, than one
    // commit per webhook).
    let commits = instance.ingest_commits();
    assert!(commits < 10, "{commits} commits for 30 webhooks");

    // Delivered again together: deduplicated, nothing stored twice.
    let answers = webhooks_together(&db, &instance, &linked, &texts, None).await;
    let duplicates: usize = answers.iter().map(|a| a.as_ref().unwrap().duplicates).sum();
    assert_eq!(duplicates, 30);
    assert_eq!(stored_ids(&db, &linked).await.len(), 31);
}

/// A group whose COMMIT fails (here a deferred check that one line breaks) stores none of
/// its webhooks; each is then tried in a transaction of its own, so only that line's
/// webhook fails, and every other is answered once it is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_commit_fails_stores_its_webhooks_one_by_one_postgres() {
    let db = Db::postgres().await;
    let linked = brand(db.store.as_ref(), "1").await;
    let instance = pg_instance(&db).await;
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db.pg.as_ref().unwrap().url)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
             CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON messages
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                 WHEN (NEW.text = 'fail at commit') EXECUTE FUNCTION refuse();",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let mut texts = vec!["x"; 12];
    texts[5] = "fail at commit";
    let answers = webhooks_together(&db, &instance, &linked, &texts, None).await;
    for (i, answer) in answers.iter().enumerate() {
        if i == 5 {
            assert!(answer.is_err(), "{answer:?}");
        } else {
            let lines = if i == 0 { 2 } else { 1 };
            assert_eq!(
                answer.as_ref().unwrap().stored,
                lines,
                "webhook {i}: {answer:?}"
            );
        }
    }
    assert_eq!(stored_ids(&db, &linked).await.len(), 12);
}
