//! VRRP v2/v3 packet codec (pure).
