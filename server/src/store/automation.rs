//! Bots: their settings, turns and hand-overs.
