//! Building blocks of the pages: the queue and the transcript.

mod queue;
mod transcript;

pub use queue::QueueList;
pub use transcript::ConversationView;
