//! One server's whole run-time state, as a pure record.
//!
//! [`ServerRecord`] is the only owner of what a server *is* at run time:
//! its health (HAProxy's rise/fall counter, [`HealthFsm`]), its
//! administrative state (ready/drain/maint), its weight (current and
//! initial), and the time of its last change and its total downtime.
//! Health checks, the stats socket and reload call its methods; each one
//! returns a [`Change`] (the [`Status`] before and after, plus the health
//! transition if any), which the caller turns into log lines, counters and
//! balancer updates.
//!
//! The record is pure: no lock, no atomic, no clock. `now` is an argument
//! (wall-clock seconds, as `lastchg` and `downtime` show them). The shared
//! side (one lock, one published snapshot for the data path) lives in
//! [`crate::state::ServerState`].
//!
//! Invariant: in maintenance the server is operationally DOWN and its
//! checks are paused.

use std::time::Duration;

use crate::health::{CheckResult, HealthFsm, HealthParams, HealthSnapshot, Transition};

/// Administrative state of a server (`set server BE/SRV state ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AdminState {
    Ready = 0,
    Drain = 1,
    Maint = 2,
}

impl AdminState {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => AdminState::Drain,
            2 => AdminState::Maint,
            _ => AdminState::Ready,
        }
    }
}

/// What the balancer and the log lines need to know of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Operationally UP (checks pass, or not checked; never in maint).
    pub up: bool,
    pub admin: AdminState,
    /// Current (user) weight.
    pub weight: u32,
    /// Configured weight.
    pub initial_weight: u32,
}

impl Status {
    /// UP and not in maintenance (drain still counts as usable).
    pub fn usable(&self) -> bool {
        self.up && self.admin != AdminState::Maint
    }

    /// Weight the balancer uses: 0 in drain or maintenance.
    pub fn effective_weight(&self) -> u32 {
        match self.admin {
            AdminState::Ready => self.weight,
            _ => 0,
        }
    }
}

/// The result of one event on a [`ServerRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub before: Status,
    pub after: Status,
    /// The operational transition (UP -> DOWN or DOWN -> UP), if any.
    pub transition: Option<Transition>,
}

impl Change {
    /// Something the balancer sees changed.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// One server's run-time state. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRecord {
    /// `None` when the server is not checked.
    fsm: Option<HealthFsm>,
    /// Operational state of an unchecked server (DOWN only in maint).
    unchecked_up: bool,
    admin: AdminState,
    weight: u32,
    initial_weight: u32,
    /// Wall-clock second of the last UP/DOWN/admin change (`lastchg`).
    last_change: u64,
    /// Seconds spent not usable before the current state (`downtime`).
    down_time: u64,
}

impl ServerRecord {
    /// A server from the configuration: `weight`, `disabled` (starts in
    /// maintenance) and its check parameters (`None` without `check`).
    /// A checked server starts UP (health = rise), as in HAProxy.
    pub fn new(weight: u32, disabled: bool, checks: Option<HealthParams>, now: u64) -> Self {
        let mut r = ServerRecord {
            fsm: checks.map(HealthFsm::new),
            unchecked_up: true,
            admin: AdminState::Ready,
            weight,
            initial_weight: weight,
            last_change: now,
            down_time: 0,
        };
        if disabled {
            r.admin = AdminState::Maint;
            r.pause();
        }
        r
    }

    pub fn status(&self) -> Status {
        Status {
            up: self.is_up(),
            admin: self.admin,
            weight: self.weight,
            initial_weight: self.initial_weight,
        }
    }

    /// Operationally UP.
    pub fn is_up(&self) -> bool {
        match &self.fsm {
            Some(f) => f.is_up(),
            None => self.unchecked_up,
        }
    }

    /// Usable by the balancer (UP, not in maintenance).
    pub fn usable(&self) -> bool {
        self.status().usable()
    }

    pub fn admin(&self) -> AdminState {
        self.admin
    }

    pub fn weight(&self) -> u32 {
        self.weight
    }

    pub fn initial_weight(&self) -> u32 {
        self.initial_weight
    }

    pub fn is_checked(&self) -> bool {
        self.fsm.is_some()
    }

    /// The health counter (0 for an unchecked server).
    pub fn health(&self) -> u32 {
        self.fsm.as_ref().map_or(0, |f| f.health())
    }

    /// Checks are paused (maintenance).
    pub fn checks_paused(&self) -> bool {
        self.admin == AdminState::Maint
    }

    /// Delay until the next check, `None` for an unchecked server (`inter`
    /// while in maintenance: the checker only looks again).
    pub fn next_check_in(&self) -> Option<Duration> {
        let maint = self.checks_paused();
        self.fsm.as_ref().map(|f| {
            if maint {
                f.params().inter
            } else {
                f.next_check_in()
            }
        })
    }

    /// Wall-clock second of the last change (`lastchg` = now - this).
    pub fn last_change(&self) -> u64 {
        self.last_change
    }

    /// Total seconds not usable up to `now` (`downtime`).
    pub fn down_time(&self, now: u64) -> u64 {
        let mut d = self.down_time;
        if !self.usable() {
            d += now.saturating_sub(self.last_change);
        }
        d
    }

    /// A copy of the health for display.
    pub fn snapshot(&self, now: u64) -> HealthSnapshot {
        let up = self.is_up();
        let since_change = Duration::from_secs(now.saturating_sub(self.last_change));
        let down_time = Duration::from_secs(self.down_time(now));
        match &self.fsm {
            Some(f) => HealthSnapshot {
                params: Some(*f.params()),
                health: f.health(),
                up,
                paused: self.checks_paused(),
                last: f.last().cloned(),
                failed_checks: f.failed_checks(),
                down_transitions: f.down_transitions(),
                since_change,
                down_time,
            },
            None => HealthSnapshot {
                params: None,
                health: 0,
                up,
                paused: self.checks_paused(),
                last: None,
                failed_checks: 0,
                down_transitions: 0,
                since_change,
                down_time,
            },
        }
    }

    fn finish(&mut self, before: Status, now: u64, transition: Option<Transition>) -> Change {
        let after = self.status();
        if before.up != after.up || before.admin != after.admin {
            if !before.usable() {
                self.down_time += now.saturating_sub(self.last_change);
            }
            self.last_change = now;
        }
        Change {
            before,
            after,
            transition,
        }
    }

    fn pause(&mut self) {
        match &mut self.fsm {
            Some(f) => {
                f.pause();
            }
            None => self.unchecked_up = false,
        }
    }

    fn resume(&mut self) {
        match &mut self.fsm {
            Some(f) => {
                f.resume();
            }
            None => self.unchecked_up = true,
        }
    }

    /// A check result at `now`. Ignored in maintenance or when unchecked.
    pub fn check_result(&mut self, result: CheckResult, now: u64) -> Change {
        let before = self.status();
        let t = match (&mut self.fsm, self.admin) {
            (Some(f), AdminState::Ready | AdminState::Drain) => f.record(result),
            _ => None,
        };
        self.finish(before, now, t)
    }

    /// `set server BE/SRV health up|down`: the health counter goes to fully
    /// up or to 0 at once. Ignored in maintenance or when unchecked.
    pub fn force(&mut self, up: bool, now: u64) -> Change {
        let before = self.status();
        let t = match (&mut self.fsm, self.admin) {
            (Some(f), AdminState::Ready | AdminState::Drain) => f.force(up),
            _ => None,
        };
        self.finish(before, now, t)
    }

    /// Change the administrative state. Entering maintenance pauses the
    /// checks (the server is DOWN); leaving it is "start OK but check
    /// immediately" (health = rise, UP).
    pub fn set_admin(&mut self, target: AdminState, now: u64) -> Change {
        let before = self.status();
        let prev = self.admin;
        self.admin = target;
        let mut t = None;
        if prev != AdminState::Maint && target == AdminState::Maint {
            self.pause();
            if before.up {
                t = Some(Transition::Down);
            }
        } else if prev == AdminState::Maint && target != AdminState::Maint {
            self.resume();
            if !before.up {
                t = Some(Transition::Up);
            }
        }
        self.finish(before, now, t)
    }

    /// `set server BE/SRV weight N` (the current weight).
    pub fn set_weight(&mut self, weight: u32, now: u64) -> Change {
        let before = self.status();
        self.weight = weight;
        self.finish(before, now, None)
    }

    /// Reload: a new configured weight also becomes the current weight
    /// (nothing happens when the configured weight did not change).
    pub fn reload_weight(&mut self, weight: u32, now: u64) -> Change {
        let before = self.status();
        if self.initial_weight != weight {
            self.initial_weight = weight;
            self.weight = weight;
        }
        self.finish(before, now, None)
    }

    /// Reload: new check parameters. A checked server keeps its state (the
    /// counter is clamped into the new range); a server that starts being
    /// checked starts at `rise` (UP); a server that stops being checked is
    /// UP (nothing would bring it back otherwise). Maintenance is kept.
    pub fn configure_checks(&mut self, params: Option<HealthParams>, now: u64) -> Change {
        let before = self.status();
        let maint = self.admin == AdminState::Maint;
        match (&mut self.fsm, params) {
            (Some(f), Some(p)) => f.set_params(p),
            (fsm @ None, Some(p)) => {
                let mut f = HealthFsm::new(p);
                if maint {
                    f.pause();
                }
                *fsm = Some(f);
            }
            (fsm @ Some(_), None) => {
                *fsm = None;
                self.unchecked_up = !maint;
            }
            (None, None) => {}
        }
        let after_up = self.is_up();
        let t = match (before.up, after_up) {
            (true, false) => Some(Transition::Down),
            (false, true) => Some(Transition::Up),
            _ => None,
        };
        self.finish(before, now, t)
    }

    /// Reset `chkfail` and `chkdown` (`clear counters all`).
    pub fn clear_counters(&mut self) {
        if let Some(f) = self.fsm.as_mut() {
            f.clear_counters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::fixtures::{ko, ok, params};

    #[test]
    fn server_health_tracks_times_with_virtual_clock() {
        let t0 = 1_000u64;
        let mut h = ServerRecord::new(1, false, Some(params(2, 3)), t0);
        assert!(h.is_up());
        assert_eq!(
            h.check_result(ko(), t0 + 1).transition,
            Some(Transition::Down)
        );
        assert!(!h.is_up());
        let s = h.snapshot(t0 + 11);
        assert_eq!(s.since_change, Duration::from_secs(10));
        assert_eq!(s.down_time, Duration::from_secs(10));
        h.check_result(ok(), t0 + 12);
        assert_eq!(
            h.check_result(ok(), t0 + 13).transition,
            Some(Transition::Up)
        );
        assert!(h.is_up());
        let s = h.snapshot(t0 + 20);
        assert_eq!(s.down_time, Duration::from_secs(12));
        assert_eq!(s.since_change, Duration::from_secs(7));
        assert_eq!(s.health, 4);
        assert_eq!(s.failed_checks, 1);
        assert_eq!(s.down_transitions, 1);
    }

    #[test]
    fn server_health_maint() {
        let t0 = 1_000u64;
        let mut h = ServerRecord::new(1, false, Some(params(2, 3)), t0);
        assert!(h.set_admin(AdminState::Maint, t0).before.up);
        assert!(!h.is_up());
        assert!(h.checks_paused());
        assert!(!h.set_admin(AdminState::Maint, t0).before.up);
        assert_eq!(h.check_result(ok(), t0).transition, None);
        h.set_admin(AdminState::Ready, t0);
        assert!(h.is_up());
        assert_eq!(h.snapshot(t0).health, 2);

        let mut u = ServerRecord::new(1, false, None, t0);
        assert!(!u.is_checked());
        assert!(u.is_up());
        assert_eq!(u.next_check_in(), None);
        assert!(u.set_admin(AdminState::Maint, t0).before.up);
        assert!(!u.is_up());
        u.set_admin(AdminState::Ready, t0);
        assert!(u.is_up());
    }

    #[test]
    fn pause_and_resume() {
        let p = params(2, 3);
        let mut f = ServerRecord::new(1, false, Some(p), 0);
        f.check_result(ok(), 0);
        assert!(f.set_admin(AdminState::Maint, 0).before.up);
        assert!(!f.is_up());
        assert_eq!(f.health(), 0);
        // Results while paused are ignored.
        assert_eq!(f.check_result(ok(), 0).transition, None);
        assert_eq!(f.health(), 0);
        assert_eq!(f.next_check_in(), Some(p.inter));
        assert!(!f.set_admin(AdminState::Ready, 0).before.up);
        assert!(f.is_up());
        assert_eq!(f.health(), 2);
        // Back at rise: one failure marks it DOWN again.
        assert_eq!(f.check_result(ko(), 0).transition, Some(Transition::Down));
    }

    #[test]
    fn configure_switches_checked_state() {
        let mut h = ServerRecord::new(1, false, None, 0);
        h.configure_checks(Some(params(2, 3)), 0);
        assert!(h.is_checked());
        assert!(h.is_up());
        h.check_result(ko(), 0);
        h.configure_checks(Some(params(3, 3)), 0);
        assert!(!h.is_up());
        h.configure_checks(None, 0);
        assert!(h.is_up());
    }

    /// The health part of a starting state.
    #[derive(Debug, Clone, Copy)]
    enum H {
        Unchecked,
        Up,
        /// UP with the counter below fully up (failing).
        Falling,
        Down,
        /// DOWN with the counter above 0 (recovering).
        Rising,
    }

    #[derive(Debug, Clone, Copy)]
    enum Ev {
        Pass,
        Fail,
        Force(bool),
        Admin(AdminState),
        Weight(u32),
        ReloadWeight(u32),
        Params(Option<(u32, u32)>),
    }

    const ADMINS: [AdminState; 3] = [AdminState::Ready, AdminState::Drain, AdminState::Maint];
    const HEALTHS: [H; 5] = [H::Unchecked, H::Up, H::Falling, H::Down, H::Rising];

    /// A record in the given state at time `t`, built only through the
    /// public events (so it is reachable).
    fn build(admin: AdminState, h: H, weight: u32, t: u64) -> ServerRecord {
        let checks = match h {
            H::Unchecked => None,
            _ => Some(params(2, 3)),
        };
        let mut r = ServerRecord::new(weight, false, checks, t);
        match h {
            H::Unchecked => {}
            H::Up => {
                r.check_result(ok(), t);
            }
            H::Falling => {
                r.check_result(ok(), t);
                r.check_result(ko(), t);
            }
            H::Down => {
                r.check_result(ko(), t);
            }
            H::Rising => {
                r.check_result(ko(), t);
                r.check_result(ok(), t);
            }
        }
        r.set_admin(admin, t);
        r
    }

    fn apply(r: &mut ServerRecord, ev: Ev, now: u64) -> Change {
        match ev {
            Ev::Pass => r.check_result(ok(), now),
            Ev::Fail => r.check_result(ko(), now),
            Ev::Force(up) => r.force(up, now),
            Ev::Admin(a) => r.set_admin(a, now),
            Ev::Weight(w) => r.set_weight(w, now),
            Ev::ReloadWeight(w) => r.reload_weight(w, now),
            Ev::Params(p) => r.configure_checks(p.map(|(r, f)| params(r, f)), now),
        }
    }

    fn events() -> Vec<Ev> {
        let mut v = vec![
            Ev::Pass,
            Ev::Fail,
            Ev::Force(true),
            Ev::Force(false),
            Ev::Weight(0),
            Ev::Weight(7),
            Ev::ReloadWeight(0),
            Ev::ReloadWeight(5),
            Ev::Params(None),
            Ev::Params(Some((2, 3))),
            Ev::Params(Some((1, 1))),
            Ev::Params(Some((4, 2))),
        ];
        v.extend(ADMINS.iter().map(|a| Ev::Admin(*a)));
        v
    }

    /// Every reachable state (admin x health x weight) under every event:
    /// the invariants hold, the returned change describes what happened,
    /// and the times follow a virtual clock.
    #[test]
    fn transitions_exhaustive() {
        let t0 = 10_000u64;
        let mut cases = 0;
        for admin in ADMINS {
            for h in HEALTHS {
                for weight in [0, 3] {
                    for ev in events() {
                        let mut r = build(admin, h, weight, t0);
                        let start = r.clone();
                        let s0 = r.status();
                        assert_eq!(s0.admin, admin);
                        let now = t0 + 100;
                        let c = apply(&mut r, ev, now);
                        let ctx = format!("{admin:?} {h:?} w{weight} {ev:?}");
                        cases += 1;
                        // the change tells the truth
                        assert_eq!(c.before, s0, "{ctx}");
                        assert_eq!(c.after, r.status(), "{ctx}");
                        // invariant: maintenance means DOWN with checks paused
                        if r.admin() == AdminState::Maint {
                            assert!(!r.is_up(), "{ctx}");
                            assert!(!r.usable(), "{ctx}");
                            assert!(r.checks_paused(), "{ctx}");
                        } else {
                            assert!(!r.checks_paused(), "{ctx}");
                        }
                        if !r.is_checked() && r.admin() != AdminState::Maint {
                            assert!(r.is_up(), "unchecked is UP: {ctx}");
                        }
                        // usable = UP and not maint; effective weight
                        assert_eq!(
                            r.usable(),
                            r.is_up() && r.admin() != AdminState::Maint,
                            "{ctx}"
                        );
                        let ew = r.status().effective_weight();
                        match r.admin() {
                            AdminState::Ready => assert_eq!(ew, r.weight(), "{ctx}"),
                            _ => assert_eq!(ew, 0, "{ctx}"),
                        }
                        // transition <=> the UP flag moved
                        let expect_t = match (c.before.up, c.after.up) {
                            (true, false) => Some(Transition::Down),
                            (false, true) => Some(Transition::Up),
                            _ => None,
                        };
                        assert_eq!(c.transition, expect_t, "{ctx}");
                        // last change moves exactly when up or admin moved
                        let moved = c.before.up != c.after.up || c.before.admin != c.after.admin;
                        if moved {
                            assert_eq!(r.last_change(), now, "{ctx}");
                        } else {
                            assert_eq!(r.last_change(), start.last_change(), "{ctx}");
                        }
                        // downtime: the 100 s just passed count iff the
                        // server was not usable, and keep counting after
                        let was_down = !s0.usable();
                        let base = start.down_time(t0);
                        let d = r.down_time(now);
                        assert_eq!(d, base + if was_down { 100 } else { 0 }, "{ctx}");
                        let later = r.down_time(now + 5);
                        let more = if r.usable() { 0 } else { 5 };
                        assert_eq!(later, d + more, "{ctx}");
                        // event-specific outcomes
                        check_event(&start, &r, ev, &c, &ctx);
                    }
                }
            }
        }
        assert_eq!(cases, 3 * 5 * 2 * 15);
    }

    fn check_event(start: &ServerRecord, r: &ServerRecord, ev: Ev, c: &Change, ctx: &str) {
        let maint = start.admin() == AdminState::Maint;
        match ev {
            Ev::Pass | Ev::Fail if maint || !start.is_checked() => {
                assert_eq!(r, start, "ignored: {ctx}");
            }
            Ev::Pass => {
                let expect = if start.health() + 1 >= 2 { 4 } else { 1 };
                assert_eq!(r.health(), expect, "{ctx}");
                let from_rising = start.health() == 1 && !start.is_up();
                assert_eq!(r.is_up(), start.is_up() || from_rising, "{ctx}");
            }
            Ev::Fail => {
                let expect = match start.health() {
                    4 => 3,
                    3 => 2,
                    _ => 0,
                };
                assert_eq!(r.health(), expect, "{ctx}");
                assert_eq!(r.is_up(), expect >= 2, "{ctx}");
            }
            Ev::Force(_) if maint || !start.is_checked() => {
                assert_eq!(r, start, "ignored: {ctx}");
            }
            Ev::Force(up) => {
                assert_eq!(r.is_up(), up, "{ctx}");
                assert_eq!(r.health(), if up { 4 } else { 0 }, "{ctx}");
                let s0 = start.snapshot(0);
                let s1 = r.snapshot(0);
                // no fake check result: last result and chkfail unchanged
                assert_eq!(s1.last, s0.last, "{ctx}");
                assert_eq!(s1.failed_checks, s0.failed_checks, "{ctx}");
                let down_inc = u64::from(start.is_up() && !up);
                assert_eq!(s1.down_transitions, s0.down_transitions + down_inc, "{ctx}");
            }
            Ev::Admin(a) => {
                assert_eq!(r.admin(), a, "{ctx}");
                if maint && a != AdminState::Maint {
                    // start OK but check immediately
                    assert!(r.is_up(), "{ctx}");
                    if r.is_checked() {
                        assert_eq!(r.health(), 2, "{ctx}");
                    }
                } else if !maint && a != AdminState::Maint {
                    assert_eq!(r.is_up(), start.is_up(), "{ctx}");
                    assert_eq!(r.health(), start.health(), "{ctx}");
                } else if a == AdminState::Maint {
                    assert_eq!(r.health(), 0, "{ctx}");
                }
            }
            Ev::Weight(w) => {
                assert_eq!(r.weight(), w, "{ctx}");
                assert_eq!(r.initial_weight(), start.initial_weight(), "{ctx}");
                assert_eq!(c.before.up, c.after.up, "{ctx}");
            }
            Ev::ReloadWeight(w) => {
                assert_eq!(r.initial_weight(), w, "{ctx}");
                if w != start.initial_weight() {
                    assert_eq!(r.weight(), w, "{ctx}");
                } else {
                    assert_eq!(r.weight(), start.weight(), "{ctx}");
                }
            }
            Ev::Params(None) => {
                assert!(!r.is_checked(), "{ctx}");
                assert_eq!(r.is_up(), !maint, "{ctx}");
            }
            Ev::Params(Some((rise, fall))) => {
                assert!(r.is_checked(), "{ctx}");
                assert_eq!(r.admin(), start.admin(), "{ctx}");
                if maint {
                    assert!(!r.is_up(), "{ctx}");
                } else if start.is_checked() {
                    // state kept, counter clamped into the new range
                    assert_eq!(r.is_up(), start.is_up(), "{ctx}");
                    if r.is_up() {
                        assert!((rise..=rise + fall - 1).contains(&r.health()), "{ctx}");
                    } else {
                        assert!(r.health() < rise, "{ctx}");
                    }
                } else {
                    assert!(r.is_up(), "{ctx}");
                    assert_eq!(r.health(), rise, "{ctx}");
                }
            }
        }
    }

    #[test]
    fn disabled_starts_in_maint_and_down() {
        for checks in [None, Some(params(2, 3))] {
            let r = ServerRecord::new(4, true, checks, 7);
            assert_eq!(r.admin(), AdminState::Maint);
            assert!(!r.is_up());
            assert!(!r.usable());
            assert_eq!(r.down_time(17), 10);
        }
    }
}
