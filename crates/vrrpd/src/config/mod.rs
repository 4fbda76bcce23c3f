//! keepalived.conf parsing into a typed, validated configuration.
