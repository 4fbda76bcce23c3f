//! A connection limit (`maxconn`) that can be resized while connections are
//! open, and keeps what it owes.
//!
//! A `tokio::sync::Semaphore` cannot take back permits that are checked out:
//! lowering `maxconn` from 100 to 2 with 10 sessions open could only forget
//! the 90 idle permits, so 2 more sessions were admitted and the new limit
//! was never reached. [`Limit`] counts the sessions it admitted (`used`)
//! against its current `max`: after such a resize it owes `used - max`
//! permits, admits nobody until fewer than `max` sessions remain, and a
//! raise admits waiters at once.
//!
//! The accounting is the pure [`Acct`] (exhaustively tested); [`Limit`]
//! keeps one `Acct` in an atomic (no lock per connection) and wakes waiters
//! through a `Notify`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// `max` meaning "no limit".
pub const UNLIMITED: u32 = u32::MAX;

/// The pure accounting: `used` sessions admitted against `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acct {
    pub max: u32,
    pub used: u32,
}

impl Acct {
    pub fn new(max: u32) -> Acct {
        Acct { max, used: 0 }
    }

    /// Admit one more session, if below the limit.
    pub fn acquire(self) -> Option<Acct> {
        (self.used < self.max).then_some(Acct {
            max: self.max,
            used: self.used + 1,
        })
    }

    /// One admitted session ended; `true` when a waiter may now be admitted.
    pub fn release(self) -> (Acct, bool) {
        let a = Acct {
            max: self.max,
            used: self.used.saturating_sub(1),
        };
        (a, a.used < a.max)
    }

    /// Change the limit; returns how many waiters may now be admitted.
    pub fn resize(self, max: u32) -> (Acct, u32) {
        let a = Acct {
            max,
            used: self.used,
        };
        (a, a.available().saturating_sub(self.available()))
    }

    /// Permits free right now.
    pub fn available(self) -> u32 {
        self.max.saturating_sub(self.used)
    }

    /// Permits checked out beyond the limit (after a lowering), to be
    /// given back before anyone else is admitted.
    pub fn owed(self) -> u32 {
        self.used.saturating_sub(self.max)
    }

    fn pack(self) -> u64 {
        (u64::from(self.max) << 32) | u64::from(self.used)
    }

    fn unpack(v: u64) -> Acct {
        Acct {
            max: (v >> 32) as u32,
            used: v as u32,
        }
    }
}

/// A resizable connection limit shared by the accept loops.
#[derive(Debug)]
pub struct Limit {
    acct: AtomicU64,
    notify: Notify,
}

/// One admitted session; gives its permit back on drop.
#[derive(Debug)]
pub struct Permit {
    limit: Arc<Limit>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limit.release();
    }
}

impl Limit {
    pub fn new(max: u32) -> Arc<Limit> {
        Arc::new(Limit {
            acct: AtomicU64::new(Acct::new(max).pack()),
            notify: Notify::new(),
        })
    }

    /// The current accounting.
    pub fn acct(&self) -> Acct {
        Acct::unpack(self.acct.load(Ordering::Acquire))
    }

    /// Apply `f` atomically; returns the old and new accounting.
    fn update<T>(&self, f: impl Fn(Acct) -> Option<(Acct, T)>) -> Option<(Acct, T)> {
        let mut cur = self.acct.load(Ordering::Acquire);
        loop {
            let (next, out) = f(Acct::unpack(cur))?;
            match self.acct.compare_exchange_weak(
                cur,
                next.pack(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some((next, out)),
                Err(v) => cur = v,
            }
        }
    }

    /// Take a permit without waiting.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.update(|a| a.acquire().map(|n| (n, ())))?;
        Some(Permit {
            limit: self.clone(),
        })
    }

    /// Wait for a permit.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(p) = self.try_acquire() {
                return p;
            }
            notified.await;
        }
    }

    fn release(&self) {
        if let Some((_, true)) = self.update(|a| Some(a.release())) {
            self.notify.notify_one();
        }
    }

    /// Change the limit: a lowering is owed by the open sessions, a raise
    /// admits waiters at once.
    pub fn resize(&self, max: u32) {
        if let Some((_, freed)) = self.update(|a| Some(a.resize(max))) {
            if freed > 0 {
                self.notify.notify_waiters();
                // a waiter between its check and its registration got a
                // stored permit from notify_one instead
                self.notify.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sequence of operations over small limits: `used` only grows
    /// through `acquire` and only while below `max`, `owed` is what a
    /// lowering left checked out, and `available + used - owed == max`.
    #[test]
    fn accounting_exhaustive() {
        for max in 0..=4u32 {
            for used in 0..=6u32 {
                let a = Acct { max, used };
                assert_eq!(a.available() + a.used - a.owed(), a.max, "{a:?}");
                match a.acquire() {
                    Some(n) => {
                        assert!(used < max);
                        assert_eq!(n.used, used + 1);
                    }
                    None => assert!(used >= max),
                }
                let (r, wake) = a.release();
                assert_eq!(r.used, used.saturating_sub(1));
                assert_eq!(wake, r.used < max);
                for new in 0..=6u32 {
                    let (n, freed) = a.resize(new);
                    assert_eq!(n.used, used);
                    assert_eq!(n.max, new);
                    // a raise frees what it adds above the open sessions
                    let before = max.saturating_sub(used);
                    let after = new.saturating_sub(used);
                    assert_eq!(freed, after.saturating_sub(before));
                    // the owed permits come back first: admitting again
                    // needs exactly `owed + 1` releases when nothing is free
                    if n.available() == 0 && n.max > 0 {
                        let mut x = n;
                        let mut releases = 0;
                        while x.acquire().is_none() {
                            x = x.release().0;
                            releases += 1;
                        }
                        assert_eq!(releases, n.owed() + 1, "{n:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn lowering_100_to_2_with_10_open_admits_nobody_until_below_2() {
        let mut a = Acct::new(100);
        for _ in 0..10 {
            a = a.acquire().expect("below 100");
        }
        let (mut a, freed) = a.resize(2);
        assert_eq!(freed, 0);
        assert_eq!(a.owed(), 8);
        for left in (2..10).rev() {
            a = a.release().0;
            assert_eq!(a.used, left);
            assert!(a.acquire().is_none(), "{left} open, limit 2");
        }
        a = a.release().0;
        assert_eq!(a.used, 1);
        assert!(a.acquire().is_some());
    }

    #[test]
    fn pack_roundtrip() {
        for a in [
            Acct::new(0),
            Acct {
                max: UNLIMITED,
                used: 7,
            },
            Acct {
                max: 3,
                used: u32::MAX,
            },
        ] {
            assert_eq!(Acct::unpack(a.pack()), a);
        }
    }

    #[tokio::test]
    async fn raise_admits_waiters_at_once_and_lowering_is_owed() {
        let l = Limit::new(2);
        let p1 = l.try_acquire().expect("1");
        let p2 = l.try_acquire().expect("2");
        assert!(l.try_acquire().is_none());
        let waiter = tokio::spawn({
            let l = l.clone();
            async move { l.acquire().await }
        });
        tokio::task::yield_now().await;
        l.resize(3);
        let p3 = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("admitted after the raise")
            .expect("task");
        l.resize(1);
        assert_eq!(l.acct().owed(), 2);
        drop(p1);
        drop(p2);
        assert!(l.try_acquire().is_none(), "1 open, limit 1");
        drop(p3);
        assert!(l.try_acquire().is_some());
    }
}
