//! The stand-alone host: our workspace's compose box, through its shared draft.

use crate::state::Draft;

pub fn write(draft: &Draft, text: &str) {
    draft.append(text);
}
