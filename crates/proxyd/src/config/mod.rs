//! haproxy.cfg parsing into a typed, validated configuration.
