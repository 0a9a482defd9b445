//! Copies of consumers' media in our store.
