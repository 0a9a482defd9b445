//! Building blocks of the pages: the queue and its search, the transcript (lines and
//! notes), transfer, the compose box (with canned responses) and the Social Widget, with
//! its own reply on the Social Widget page.

mod automation;
mod canned;
mod compose;
mod count;
mod follow;
mod guards;
mod mode_switch;
mod notes;
mod queue;
mod search;
mod shared_links;
mod social_widget;
mod time;
mod transcript;
mod transfer;
mod widget_reply;

pub use automation::AutomationSettings;
pub use compose::{Compose, ComposeFacts};
pub use follow::Follow;
pub use queue::{QueueList, QueueSortSwitch, link_name};
pub use search::QueueSearch;
pub use shared_links::SharedLinks;
pub use social_widget::{CharacterCounter, SocialWidget};
pub use time::{Time, provide_clock};
pub use transcript::ConversationView;
pub use transfer::TransferForm;
pub use widget_reply::WidgetReply;
