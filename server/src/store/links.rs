//! Linked pages and accounts, and OAuth hand-offs in flight.
