//! Building blocks of the pages: the queue, the transcript and the compose box.

mod compose;
mod queue;
mod transcript;

pub use compose::{Compose, ComposeFacts};
pub use queue::QueueList;
pub use transcript::ConversationView;
