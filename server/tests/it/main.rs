//! The server's integration tests, one binary: each module is a suite that runs the real
//! server on loopback (and, where it says so, the `socialconnect` binary, PostgreSQL or
//! S3). One binary links the server once instead of once per suite.

mod common;

mod authz_matrix;
mod automation;
mod canned_notes_search;
mod conversations;
mod crash;
mod disk_full;
mod fuzz_parsers;
mod home;
mod hostile;
mod liveengage;
mod locked;
mod media;
mod metrics;
mod object_store;
mod onboarding;
mod outage;
mod outbound;
mod outbound_media;
mod people;
mod queue;
mod sandbox_inbound;
mod scale_out;
mod serving;
mod sign_in;
mod sso;
mod storage;
mod tls;
mod webhooks;
