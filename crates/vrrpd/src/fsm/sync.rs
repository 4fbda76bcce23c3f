//! `vrrp_sync_group` and tracking, as pure reducers (no I/O, no clock).
//!
//! keepalived's rules for a sync group, which [`Group`] implements:
//! - a member in fault (its interface down, or a weight-0 tracker failing)
//!   puts every other member in FAULT ([`Group::other_fault`]);
//! - a member entering BACKUP takes the MASTER members to BACKUP;
//! - a member entering MASTER takes the BACKUP members to MASTER;
//! - a BACKUP member whose down timer expired only *wants* MASTER
//!   ([`super::Machine::wants_master`]): the group goes MASTER once every
//!   member wants it, or once the group already is MASTER
//!   ([`Group::may_master`]); keepalived prefers BACKUP for a group;
//! - the group's own state is the last state a member entered, and each
//!   change of it is announced once (log line and the group's notify).
//!
//! The shell feeds the reducer what its machine did ([`Group::report`])
//! and its own fault condition ([`Group::set_fault`]); the reducer answers
//! with the events that bring each member in line ([`Outcome::forced`],
//! [`Group::follow`]). A forced event moves a member to the group's state,
//! so it cannot force another: delivering them converges.

use std::collections::BTreeMap;

use super::{Event, State};

/// One member as the group sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// Its own fault condition (link down or a weight-0 tracker failing).
    pub fault: bool,
    /// Its down timer expired but the group holds it in BACKUP.
    pub want_master: bool,
    /// Its state (None before it reported one).
    pub state: Option<State>,
}

/// The state of one sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// The configured members, in configuration order.
    names: Vec<String>,
    /// The members that reported (running instances).
    members: BTreeMap<String, Member>,
    /// The group's state (the last state a member entered).
    state: Option<State>,
}

/// What one report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The group entered this state (announce it: log and notify).
    pub entered: Option<State>,
    /// Events for members (the reporter included) to follow the group, in
    /// configuration order.
    pub forced: Vec<(String, Event)>,
}

impl Outcome {
    /// The forced event for `name`, if any.
    pub fn for_member(&self, name: &str) -> Option<Event> {
        self.forced
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
    }
}

impl Group {
    /// A group of the configured `members`.
    pub fn new(members: impl IntoIterator<Item = String>) -> Self {
        Group {
            names: members.into_iter().collect(),
            ..Group::default()
        }
    }

    /// A reload changed the configured members (the reports of members
    /// that stay are kept).
    pub fn set_members(&mut self, members: impl IntoIterator<Item = String>) {
        self.names = members.into_iter().collect();
        let names = &self.names;
        self.members.retain(|n, _| names.contains(n));
    }

    /// The group's state (None before any member entered one).
    pub fn state(&self) -> Option<State> {
        self.state
    }

    /// How the group sees `name` (None when it never reported).
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// Record `name`'s own fault condition; true when it changed (the
    /// other members must then re-evaluate [`Group::other_fault`]).
    pub fn set_fault(&mut self, name: &str, fault: bool) -> bool {
        let m = self.members.entry(name.to_string()).or_default();
        std::mem::replace(&mut m.fault, fault) != fault
    }

    /// Is a member other than `name` in fault (so `name` must be FAULT)?
    pub fn other_fault(&self, name: &str) -> bool {
        self.members.iter().any(|(n, m)| m.fault && n != name)
    }

    /// May `name`'s down timer make it MASTER: the group is MASTER, or
    /// every other configured member wants MASTER too?
    pub fn may_master(&self, name: &str) -> bool {
        self.state == Some(State::Master)
            || self
                .names
                .iter()
                .filter(|n| *n != name)
                .all(|n| self.members.get(n).is_some_and(|m| m.want_master))
    }

    /// `name`'s machine handled an event: it went from `before` to `after`
    /// and now does (not) want MASTER. Returns the group's new state, if
    /// the member moved it, and the events every member needs to follow.
    pub fn report(&mut self, name: &str, before: State, after: State, want: bool) -> Outcome {
        let m = self.members.entry(name.to_string()).or_default();
        m.state = Some(after);
        m.want_master = want;
        let mut entered = None;
        if before != after && self.state != Some(after) && after != State::Init {
            self.state = Some(after);
            entered = Some(after);
        }
        let forced = self
            .names
            .iter()
            .filter_map(|n| self.follow(n).map(|e| (n.clone(), e)))
            .collect();
        Outcome { entered, forced }
    }

    /// The event that brings `name` in line with the group, from what it
    /// last reported.
    pub fn follow(&self, name: &str) -> Option<Event> {
        let m = self.members.get(name)?;
        match (self.state, m.state?) {
            (Some(State::Master), State::Backup) => Some(Event::ForceMaster),
            (Some(State::Backup), State::Master) => Some(Event::ForceBackup),
            (_, State::Backup) if m.want_master && self.may_master(name) => {
                Some(Event::ForceMaster)
            }
            _ => None,
        }
    }

    /// `name` stopped (shutdown or removed): forget it. True when it was
    /// known.
    pub fn leave(&mut self, name: &str) -> bool {
        self.members.remove(name).is_some()
    }
}

/// One tracked object's input to [`tracking`]: its weight, `reverse`, and
/// its status (None = no result yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub weight: i32,
    pub reverse: bool,
    pub ok: Option<bool>,
}

/// keepalived's tracking arithmetic for one tracked object: `(weight to add,
/// fault)`. `reverse` flips the status. Weight > 0 adds while OK, weight < 0
/// adds (subtracts) while failing, weight 0 faults while failing. No result
/// yet counts as neither.
pub fn contribution(weight: i32, reverse: bool, ok: Option<bool>) -> (i32, bool) {
    let Some(ok) = ok else {
        return (0, false);
    };
    let ok = ok != reverse;
    match weight {
        0 => (0, !ok),
        w if w > 0 => (if ok { w } else { 0 }, false),
        w => (if ok { 0 } else { w }, false),
    }
}

/// Sum of the weights and the fault flag over every tracked object.
pub fn tracking(items: impl IntoIterator<Item = Tracked>) -> (i32, bool) {
    items.into_iter().fold((0, false), |(w, f), t| {
        let (dw, df) = contribution(t.weight, t.reverse, t.ok);
        (w.saturating_add(dw), f || df)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Group {
        Group::new(["a".to_string(), "b".to_string()])
    }

    #[test]
    fn fault_of_one_is_seen_by_the_others() {
        let mut g = g();
        assert!(g.set_fault("a", true));
        assert!(!g.set_fault("a", true));
        assert!(g.other_fault("b"));
        assert!(!g.other_fault("a"));
        assert!(g.set_fault("a", false));
        assert!(!g.other_fault("b"));
    }

    #[test]
    fn master_only_once_all_want_it() {
        let mut g = g();
        g.report("a", State::Init, State::Backup, false);
        g.report("b", State::Init, State::Backup, false);
        assert!(!g.may_master("a"));
        let o = g.report("a", State::Backup, State::Backup, true);
        assert_eq!(o.forced, vec![]);
        assert!(g.may_master("b"));
        let o = g.report("b", State::Backup, State::Backup, true);
        assert_eq!(
            o.forced,
            vec![
                ("a".into(), Event::ForceMaster),
                ("b".into(), Event::ForceMaster)
            ]
        );
        let o = g.report("a", State::Backup, State::Master, false);
        assert_eq!(o.entered, Some(State::Master));
        assert_eq!(o.for_member("b"), Some(Event::ForceMaster));
        let o = g.report("b", State::Backup, State::Master, false);
        assert_eq!(o, Outcome::default());
    }

    #[test]
    fn backup_takes_masters_down_and_leaving_forgets() {
        let mut g = g();
        g.report("a", State::Backup, State::Master, false);
        g.report("b", State::Backup, State::Master, false);
        let o = g.report("a", State::Master, State::Backup, false);
        assert_eq!(o.entered, Some(State::Backup));
        assert_eq!(o.forced, vec![("b".into(), Event::ForceBackup)]);
        assert!(g.leave("b"));
        assert!(!g.leave("b"));
        assert_eq!(g.follow("b"), None);
    }

    #[test]
    fn tracking_sums() {
        let t = |weight, reverse, ok| Tracked {
            weight,
            reverse,
            ok,
        };
        assert_eq!(tracking([]), (0, false));
        assert_eq!(
            tracking([t(2, false, Some(true)), t(-5, false, Some(false))]),
            (-3, false)
        );
        assert_eq!(
            tracking([t(2, false, Some(true)), t(0, true, Some(true))]),
            (2, true)
        );
        assert_eq!(tracking([t(0, false, None)]), (0, false));
    }
}
