//! Health-check state: HAProxy's rise/fall arithmetic as a pure state machine.

/// Per-server health state, shared through `state.rs`.
#[derive(Debug, Default)]
pub struct ServerHealth {}
