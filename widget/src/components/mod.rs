//! Building blocks of the pages: the queue, the transcript, transfer, the compose box and
//! the Social Widget.

mod automation;
mod compose;
mod guards;
mod queue;
mod shared_links;
mod social_widget;
mod time;
mod transcript;
mod transfer;

pub use automation::AutomationSettings;
pub use compose::{Compose, ComposeFacts};
pub use queue::{QueueList, QueueSortSwitch, link_name};
pub use shared_links::SharedLinks;
pub use social_widget::{CharacterCounter, SocialWidget};
pub use time::{Time, provide_clock};
pub use transcript::ConversationView;
pub use transfer::TransferForm;
