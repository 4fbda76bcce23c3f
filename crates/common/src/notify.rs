//! sd_notify(3) messages for `Type=notify` units. Every call is a no-op when
//! `NOTIFY_SOCKET` is not set, and failures are only logged: the service
//! manager being unreachable must never stop a load balancer.

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// Startup finished: listeners/instances are up.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A configuration reload starts (pairs with [`ready`] when it ends).
pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::monotonic_usec_now().unwrap_or(NotifyState::Status("reloading")),
    ]);
}

/// The service is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A free-form status line (shown by `systemctl status`).
pub fn status(msg: &str) {
    send(&[NotifyState::Status(msg)]);
}

/// True when running under a service manager that listens for notifications.
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}
