//! Building blocks of the pages: the queue, the transcript, transfer, the compose box and
//! the Social Widget.

mod automation;
mod compose;
mod follow;
mod queue;
mod shared_links;
mod social_widget;
mod transcript;
mod transfer;

pub use automation::AutomationSettings;
pub use compose::{Compose, ComposeFacts};
pub use follow::Follow;
pub use queue::QueueList;
pub use shared_links::SharedLinks;
pub use social_widget::{CharacterCounter, SocialWidget};
pub use transcript::ConversationView;
pub use transfer::TransferForm;
