//! Network-namespace helpers for the lab and the tests (owned by the lab work).
