//! Brand accounts, their people, sessions, sign-in counts, skills and audit.
