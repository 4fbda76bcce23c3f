//! The VRRP state machine (pure).
