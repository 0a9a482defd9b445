//! Storing what webhooks bring, once.
