//! Where the widget runs: inside the LiveEngage agent workspace (framed by it, through
//! the widget SDK it loads) or stand-alone in our own workspace. One interface hides which:
//! the tools ask the host to write into the agent's compose box.

pub mod liveengage;
pub mod standalone;

use crate::state::Draft;

/// The widget's host.
#[derive(Clone, Copy)]
pub enum Host {
    /// Our own workspace (or the widget page on its own): the shared draft.
    Standalone(Draft),
    /// The LiveEngage agent workspace, reached through `lpTag.agentSDK`.
    LiveEngage,
}

impl Host {
    /// Puts `text` into the agent's compose box.
    pub fn write(&self, text: &str) {
        match self {
            Host::Standalone(draft) => standalone::write(draft, text),
            Host::LiveEngage => liveengage::write(text),
        }
    }

    pub fn is_liveengage(&self) -> bool {
        matches!(self, Host::LiveEngage)
    }
}
