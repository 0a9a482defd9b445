//! Replies waiting to go out, claimed by one instance at a time.
