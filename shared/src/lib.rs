//! SocialConnect's shared vocabulary: channels, message tags, reply modes and when each
//! is open, character limits, public-to-private links, the internal API's DTOs and its one wire error.
//!
//! Everything here is pure (no I/O, no runtime) so the server and the WebAssembly widget
//! apply exactly the same rules.

pub mod api;
pub mod automation;
pub mod bundles;
pub mod canned;
pub mod count;
pub mod error;
pub mod home;
pub mod ids;
pub mod inbound;
pub mod links;
pub mod liveengage;
pub mod media_limits;
pub mod notes;
pub mod onboarding;
pub mod replies;
pub mod time;
pub mod vocab;

pub use count::{Count, count};
pub use error::{ApiError, ErrorCode};
pub use links::{messenger_link, twitter_dm_link};
pub use vocab::{Channel, ReplyMode, Role, Tag, Target};
