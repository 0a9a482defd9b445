//! Conversations: the queue, a transcript, taking, closing and export.
