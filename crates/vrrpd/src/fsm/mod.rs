//! The VRRP state machine (pure, deterministic).
//!
//! `(state, event, now) -> (state, actions)`: [`Machine::handle`] takes an
//! [`Event`] and the current virtual time and returns the [`Action`]s the
//! I/O shell must execute, in order. [`Machine::next_deadline`] says when
//! the shell must deliver [`Event::Timer`] next. Nothing here does I/O or
//! reads a clock, so the tests drive it with a virtual clock.
//!
//! Behaviour follows RFC 3768 / RFC 5798 section 6 as keepalived 2.2.7
//! implements it (`vrrp.c`, `vrrp_scheduler.c`), including its log lines.
//! Notable keepalived choices kept here:
//! * Init always goes to BACKUP (`Entering BACKUP STATE (init)`) unless the
//!   base priority is 255, whatever `state MASTER` says; a `state MASTER`
//!   instance with a lower priority wins through the master down timer.
//! * Skew time is computed in microseconds like keepalived:
//!   v3 `(256 - prio) * Master_Adver_Interval / 256`, v2
//!   `(256 - prio) / 256` s.
//! * A master receiving a lower priority advert sends an advert at once
//!   (`forcing new election`).
//! * `preempt_delay` starts when the first lower priority advert arrives in
//!   BACKUP, and stops when a higher or equal one arrives.
//! * Leaving MASTER for FAULT or on shutdown sends priority 0, then removes
//!   the VIPs; leaving it for BACKUP (higher priority seen) only removes
//!   them.
//! * Startup removes the VIPs first (leftovers of a previous run), and
//!   every instance notifies `STOP` on shutdown, as keepalived does.
//!
//! Driving it (the shell's side):
//! * deliver [`Event::Timer`] once `now >= next_deadline()`; a Timer
//!   before any deadline is harmless;
//! * only deliver adverts that passed `packet::validate` (adverts of
//!   another VRID or version are ignored anyway);
//! * tracking: send [`Event::PriorityChanged`] with
//!   [`effective_priority`]`(base, sum of weights)`, and
//!   [`Event::Fault`] with "some weight-0 tracker is failing". keepalived
//!   keeps an instance in FAULT (init) until its weight-0 scripts have
//!   reported once: send `Fault(true)` before `Startup` to get that;
//! * execute the actions in order (the order is part of the protocol:
//!   advert before VIPs before GARPs; priority 0 before removing VIPs).

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::{Advert, Version};

#[cfg(test)]
mod golden;
#[cfg(test)]
mod golden_sync;
pub mod sync;

/// Virtual time: a duration since an arbitrary epoch chosen by the shell
/// (e.g. the daemon's start). Deterministic in tests.
pub type Time = Duration;

/// Priority of the address owner.
pub const PRIO_OWNER: u8 = 255;
/// Priority a stopping master advertises.
pub const PRIO_STOP: u8 = 0;

/// Instance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Before [`Event::Startup`].
    Init,
    /// Backup: watching the master down timer.
    Backup,
    /// Master: owns the VIPs, advertises.
    Master,
    /// Fault: interface down or a weight-0 tracker failed.
    Fault,
    /// After [`Event::Shutdown`]; terminal.
    Stopped,
}

impl State {
    /// The name keepalived uses for notify scripts and dumps
    /// (`INIT`, `BACKUP`, `MASTER`, `FAULT`, `STOP`).
    pub fn keepalived_name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stopped => "STOP",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keepalived_name())
    }
}

/// Severity of a [`Action::Log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Something is misconfigured or conflicting.
    Warn,
    /// State changes and elections (keepalived logs these at LOG_INFO).
    Info,
    /// Details keepalived logs only with `-D`.
    Debug,
}

/// A virtual address as far as the machine cares: for the GARP log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// The interface it is added on (`dev`, or the instance's interface).
    pub dev: String,
}

/// What the machine needs of a `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Instance name, as in the log prefix `(vif1)`.
    pub name: String,
    /// Interface name.
    pub interface: String,
    /// VRRP version.
    pub version: Version,
    /// Virtual router id.
    pub vrid: u8,
    /// Base priority (1..=255).
    pub priority: u8,
    /// Configured advertisement interval.
    pub adver_int: Duration,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` (zero = none).
    pub preempt_delay: Duration,
    /// Our source address (the interface's primary or `unicast_src_ip`),
    /// which breaks ties between equal priorities.
    pub primary_addr: IpAddr,
    /// VIPs and excluded VIPs, for the GARP / NA log lines.
    pub vips: Vec<Vip>,
    /// `garp_master_delay`: second GARP burst after becoming master (zero =
    /// none). keepalived's default is 5 s.
    pub garp_master_delay: Duration,
    /// `garp_master_repeat`: GARPs per VIP per burst (default 5).
    pub garp_master_repeat: u32,
    /// `garp_master_refresh`: periodic GARP while master (None = off).
    pub garp_master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat` (default 1).
    pub garp_master_refresh_repeat: u32,
    /// Adverts missed before the master is down (keepalived's
    /// `down_timer_adverts`, default 3 as in the RFC).
    pub down_timer_adverts: u32,
    /// Member of a `vrrp_sync_group`: the master down timer alone does not
    /// make it MASTER; it then only *wants* to be master
    /// ([`Machine::wants_master`]) unless [`Machine::set_sync_may_master`]
    /// allows it (every other member wants it too, or the group is
    /// MASTER), and the shell syncs the members with
    /// [`Event::ForceMaster`] / [`Event::ForceBackup`] (keepalived prefers
    /// BACKUP for a group, to avoid thrashing).
    pub sync_group: bool,
    /// `garp_lower_prio_repeat` / `garp_lower_prio_delay` (None =
    /// `garp_master_repeat` / `garp_master_delay`).
    pub garp_lower_prio_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<Duration>,
    /// `lower_prio_no_advert`: a master does not answer a lower priority
    /// advert with an advert of its own.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: a master hearing a higher priority sends
    /// one advert before going BACKUP.
    pub higher_prio_send_advert: bool,
}

impl Config {
    /// GARPs per VIP and delay of the second burst after a lower priority
    /// advert.
    fn lower_prio_garp(&self) -> (u32, Duration) {
        (
            self.garp_lower_prio_repeat
                .unwrap_or(self.garp_master_repeat),
            self.garp_lower_prio_delay.unwrap_or(self.garp_master_delay),
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: String::new(),
            interface: String::new(),
            version: Version::V2,
            vrid: 1,
            priority: 100,
            adver_int: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            vips: Vec::new(),
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: None,
            garp_master_refresh_repeat: 1,
            down_timer_adverts: 3,
            sync_group: false,
            garp_lower_prio_repeat: None,
            garp_lower_prio_delay: None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
        }
    }
}

/// Input to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Leave Init (the daemon has its sockets and knows the link state).
    Startup,
    /// A validated advert (see `packet::receive`) from `from`.
    Advert {
        /// The sender's IP source address.
        from: IpAddr,
        /// The advert.
        advert: Advert,
    },
    /// The deadline from [`Machine::next_deadline`] has passed.
    Timer,
    /// Tracking changed the priority: the new total (base plus weights; see
    /// [`effective_priority`]). Clamped to 1..=254; ignored for an owner.
    PriorityChanged(u8),
    /// The instance's interface (or a tracked interface) went down.
    InterfaceDown,
    /// It came back up.
    InterfaceUp,
    /// A weight-0 tracker (script, process) failed (`true`) or recovered.
    /// The shell aggregates its trackers into this one flag.
    Fault(bool),
    /// Stop the instance (SIGTERM, or removed by a reload).
    Shutdown,
    /// `vrrp_sync_group`: another member became MASTER (or every member
    /// wants to): a BACKUP member becomes MASTER at once. Ignored in any
    /// other state.
    ForceMaster,
    /// `vrrp_sync_group`: another member went to BACKUP: a MASTER member
    /// steps down to BACKUP (no priority 0 advert, as keepalived). Ignored
    /// in any other state.
    ForceBackup,
}

/// Output of the machine, executed by the shell in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advert with this priority (the rest from the config).
    SendAdvert {
        /// 0 when leaving master.
        priority: u8,
    },
    /// Add the instance's VIPs (and excluded VIPs).
    AddVips,
    /// Remove them.
    RemoveVips,
    /// Send `repeat` gratuitous ARPs / unsolicited NAs for every VIP.
    SendGarp {
        /// Messages per VIP.
        repeat: u32,
    },
    /// Run the notify scripts for this new state (`notify_master`, ...,
    /// and `notify` with `INSTANCE name STATE priority`).
    Notify {
        /// The state entered.
        state: State,
        /// The effective priority then.
        priority: u8,
    },
    /// Log a line, already prefixed with `(name)` where keepalived does.
    Log {
        /// Severity.
        level: Level,
        /// The text, in keepalived's wording.
        msg: String,
    },
}

/// Effective priority for a base priority and the sum of tracking weights:
/// an owner (255) is never changed; otherwise clamped to 1..=254.
pub fn effective_priority(base: u8, weights: i32) -> u8 {
    if base == PRIO_OWNER {
        return PRIO_OWNER;
    }
    let total = i64::from(base) + i64::from(weights);
    total.clamp(1, 254) as u8
}

/// Skew time for a priority and master advertisement interval.
/// v3: `((256 - prio) * interval) / 256`; v2: `(256 - prio) / 256` s
/// (the interval does not matter). Microsecond resolution, as keepalived.
pub fn skew_time(version: Version, priority: u8, master_adver_int: Duration) -> Duration {
    let p = 256 - u64::from(priority);
    match version {
        Version::V3 => {
            let cs = master_adver_int.as_millis() as u64 / 10;
            Duration::from_micros(p * cs * 10_000 / 256)
        }
        Version::V2 => Duration::from_micros(p * 1_000_000 / 256),
    }
}

/// Master_Down_Interval = adverts x Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_int: Duration,
    adverts: u32,
) -> Duration {
    master_adver_int * adverts + skew_time(version, priority, master_adver_int)
}

/// A serializable view of a machine, for state dumps (SIGUSR1, JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    /// Instance name.
    pub name: String,
    /// Current state.
    pub state: State,
    /// VRID.
    pub vrid: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// Base priority.
    pub base_priority: u8,
    /// Effective priority.
    pub effective_priority: u8,
    /// Master_Adver_Interval in milliseconds.
    pub master_adver_int_ms: u64,
    /// Master_Down_Interval in microseconds.
    pub master_down_interval_us: u64,
    /// Last master heard from (ourselves when MASTER).
    pub master_addr: Option<IpAddr>,
    /// Its priority.
    pub master_priority: u8,
    /// Link state as last reported.
    pub link_up: bool,
    /// A weight-0 tracker is failing.
    pub tracker_fault: bool,
    /// Next deadline, in milliseconds of virtual time.
    pub next_deadline_ms: Option<u64>,
}

/// One VRRP instance's state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    cfg: Config,
    state: State,
    base_priority: u8,
    priority: u8,
    master_adver_int: Duration,
    /// Backup: master down timer. Master: advert timer.
    timer: Option<Time>,
    /// Master: the delayed second GARP burst.
    garp_delay_at: Option<Time>,
    /// Master: the next GARP refresh.
    garp_refresh_at: Option<Time>,
    /// Master: the delayed GARP burst after a lower priority advert.
    garp_lower_at: Option<Time>,
    /// Backup: end of the running preempt delay.
    preempt_until: Option<Time>,
    /// `garp_lower_prio_repeat` / `garp_lower_prio_delay`: GARPs a master
    /// sends when it hears a lower priority advert, and the delayed second
    /// burst (keepalived's defaults are `garp_master_repeat` and
    /// `garp_master_delay`); see [`Machine::set_lower_prio_garp`].
    lower_prio_garp: (u32, Duration),
    link_up: bool,
    tracker_fault: bool,
    master_addr: Option<IpAddr>,
    master_priority: u8,
    /// Sync group member whose down timer expired (keepalived's
    /// `wantstate == MASTER` while held in BACKUP).
    want_master: bool,
    /// Sync group: may the down timer make us MASTER now?
    sync_may_master: bool,
}

impl Machine {
    /// A machine in [`State::Init`]. The link is assumed up until
    /// [`Event::InterfaceDown`] says otherwise (which may come before
    /// [`Event::Startup`]).
    pub fn new(cfg: Config) -> Machine {
        let base = cfg.priority.max(1);
        Machine {
            state: State::Init,
            base_priority: base,
            priority: base,
            master_adver_int: cfg.adver_int,
            timer: None,
            garp_delay_at: None,
            garp_refresh_at: None,
            garp_lower_at: None,
            preempt_until: None,
            lower_prio_garp: cfg.lower_prio_garp(),
            link_up: true,
            tracker_fault: false,
            master_addr: None,
            master_priority: 0,
            want_master: false,
            sync_may_master: false,
            cfg,
        }
    }

    /// Sync group member: may the master down timer make us MASTER now
    /// (every other member wants MASTER too, or the group is MASTER)? The
    /// shell sets it before delivering [`Event::Timer`].
    pub fn set_sync_may_master(&mut self, may: bool) {
        self.sync_may_master = may;
    }

    /// Sync group member held in BACKUP although its down timer expired.
    pub fn wants_master(&self) -> bool {
        self.want_master
    }

    /// Override keepalived's `garp_lower_prio_repeat` / `_delay` (by
    /// default `garp_master_repeat` / `garp_master_delay`). 0 / zero = off.
    pub fn set_lower_prio_garp(&mut self, repeat: u32, delay: Duration) {
        self.lower_prio_garp = (repeat, delay);
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Effective priority (what we advertise and compare).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Base priority (configured, or lowered to 254 after an owner
    /// conflict).
    pub fn base_priority(&self) -> u8 {
        self.base_priority
    }

    /// Master_Adver_Interval: configured, or learned from a v3 master.
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// Skew_Time for the effective priority.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.cfg.version, self.priority, self.master_adver_int)
    }

    /// Master_Down_Interval for the effective priority.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.cfg.version,
            self.priority,
            self.master_adver_int,
            self.cfg.down_timer_adverts,
        )
    }

    /// Address and priority of the last master heard from (for dumps).
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master_addr.map(|a| (a, self.master_priority))
    }

    /// A serializable view for dumps.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            name: self.cfg.name.clone(),
            state: self.state,
            vrid: self.cfg.vrid,
            version: self.cfg.version.number(),
            base_priority: self.base_priority,
            effective_priority: self.priority,
            master_adver_int_ms: self.master_adver_int.as_millis() as u64,
            master_down_interval_us: self.master_down_interval().as_micros() as u64,
            master_addr: self.master_addr,
            master_priority: self.master_priority,
            link_up: self.link_up,
            tracker_fault: self.tracker_fault,
            next_deadline_ms: self.next_deadline().map(|d| d.as_millis() as u64),
        }
    }

    /// Whether a fault condition (link down or tracker) holds.
    pub fn faulted(&self) -> bool {
        !self.link_up || self.tracker_fault
    }

    /// When [`Event::Timer`] must be delivered next (None = no timer).
    pub fn next_deadline(&self) -> Option<Time> {
        [
            self.timer,
            self.garp_delay_at,
            self.garp_refresh_at,
            self.garp_lower_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Apply a changed configuration of the same instance on reload,
    /// keeping the state (keepalived would restart it). Returns `None`,
    /// changing nothing, when the VRID or version differs: the shell must
    /// then shut this machine down and start a new one.
    ///
    /// The base priority moves the effective one by the same amount
    /// (the shell sends [`Event::PriorityChanged`] afterwards if tracking
    /// weights changed too); becoming the owner (255) in BACKUP takes over
    /// at once. Interval, preempt and GARP settings apply from the next
    /// advert or timer. VIP changes are the shell's: it knows both lists,
    /// and adds / removes the difference when [`Machine::state`] is MASTER.
    pub fn reconfigure(&mut self, cfg: Config, now: Time) -> Option<Vec<Action>> {
        if cfg.vrid != self.cfg.vrid || cfg.version != self.cfg.version {
            return None;
        }
        let mut out = Vec::new();
        let old = std::mem::replace(&mut self.cfg, cfg);
        if self.lower_prio_garp == old.lower_prio_garp() {
            self.lower_prio_garp = self.cfg.lower_prio_garp();
        }
        if self.master_adver_int == old.adver_int || self.state != State::Backup {
            self.master_adver_int = self.cfg.adver_int;
        }
        if self.state == State::Master && old.adver_int != self.cfg.adver_int {
            self.timer = Some(now + self.cfg.adver_int);
        }
        if self.garp_refresh_at.is_some() || self.state == State::Master {
            self.garp_refresh_at = match self.cfg.garp_master_refresh {
                Some(r) if !r.is_zero() && self.state == State::Master => Some(now + r),
                _ => None,
            };
        }
        if self.cfg.preempt_delay.is_zero() {
            self.preempt_until = None;
        }
        let new_base = self.cfg.priority.max(1);
        let old_base = self.base_priority;
        if new_base != old_base {
            let new = if new_base == PRIO_OWNER {
                PRIO_OWNER
            } else if old_base == PRIO_OWNER {
                new_base
            } else {
                let delta = i32::from(self.priority) - i32::from(old_base);
                effective_priority(new_base, delta)
            };
            self.base_priority = new_base;
            if new != self.priority {
                self.log(
                    &mut out,
                    Level::Info,
                    format!(
                        "Changing effective priority from {} to {}",
                        self.priority, new
                    ),
                );
                self.priority = new;
            }
            if new == PRIO_OWNER && self.state == State::Backup {
                self.become_master(now, &mut out);
            }
        }
        Some(out)
    }

    /// Process one event at virtual time `now`.
    pub fn handle(&mut self, event: Event, now: Time) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Stopped {
            return out;
        }
        match event {
            Event::Startup => self.on_startup(now, &mut out),
            // Not ours: the shell should have dropped it (see
            // `packet::validate`); never let it change anything.
            Event::Advert { advert, .. }
                if advert.vrid != self.cfg.vrid || advert.version != self.cfg.version => {}
            Event::Advert { from, advert } => match self.state {
                State::Backup => self.backup_rx(from, &advert, now, &mut out),
                State::Master => self.master_rx(from, &advert, now, &mut out),
                _ => {}
            },
            Event::Timer => self.on_timer(now, &mut out),
            Event::PriorityChanged(p) => self.on_priority(p, now, &mut out),
            Event::InterfaceDown => {
                let was = self.faulted();
                self.link_up = false;
                self.fault_changed(was, now, &mut out);
            }
            Event::InterfaceUp => {
                let was = self.faulted();
                self.link_up = true;
                self.fault_changed(was, now, &mut out);
            }
            Event::Fault(f) => {
                let was = self.faulted();
                self.tracker_fault = f;
                self.fault_changed(was, now, &mut out);
            }
            Event::Shutdown => self.on_shutdown(&mut out),
            Event::ForceMaster => {
                if self.state == State::Backup {
                    self.become_master(now, &mut out);
                }
            }
            Event::ForceBackup => {
                if self.state == State::Master {
                    self.leave_master(State::Backup, now, &mut out);
                }
            }
        }
        out
    }

    fn log(&self, out: &mut Vec<Action>, level: Level, msg: String) {
        out.push(Action::Log {
            level,
            msg: format!("({}) {}", self.cfg.name, msg),
        });
    }

    fn notify(&self, out: &mut Vec<Action>) {
        out.push(Action::Notify {
            state: self.state,
            priority: self.priority,
        });
    }

    fn clear_timers(&mut self) {
        self.want_master = false;
        self.timer = None;
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
        self.garp_lower_at = None;
        self.preempt_until = None;
    }

    fn on_startup(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.state != State::Init {
            return;
        }
        self.master_adver_int = self.cfg.adver_int;
        // Clear leftovers of a previous run, as keepalived does.
        self.log(out, Level::Debug, "removing VIPs.".into());
        out.push(Action::RemoveVips);
        if self.faulted() {
            self.state = State::Fault;
            self.clear_timers();
            self.log(out, Level::Info, "Entering FAULT STATE (init)".into());
            self.notify(out);
        } else if self.base_priority == PRIO_OWNER {
            // keepalived gets there through an immediate down timer expiry.
            self.log(out, Level::Debug, "Receive advertisement timeout".into());
            self.become_master(now, out);
        } else {
            self.enter_backup(now, out, "Entering BACKUP STATE (init)");
        }
    }

    fn enter_backup(&mut self, now: Time, out: &mut Vec<Action>, msg: &str) {
        self.state = State::Backup;
        self.clear_timers();
        self.log(out, Level::Info, msg.into());
        self.notify(out);
        self.timer = Some(now + self.master_down_interval());
    }

    fn send_garps(&self, out: &mut Vec<Action>, repeat: u32) {
        if repeat == 0 || self.cfg.vips.is_empty() {
            return;
        }
        for v in &self.cfg.vips {
            let what = if v.addr.is_ipv6() {
                "Unsolicited Neighbour Adverts"
            } else {
                "gratuitous ARPs"
            };
            self.log(
                out,
                Level::Info,
                format!("Sending/queueing {what} on {} for {}", v.dev, v.addr),
            );
        }
        out.push(Action::SendGarp { repeat });
    }

    fn become_master(&mut self, now: Time, out: &mut Vec<Action>) {
        self.state = State::Master;
        self.clear_timers();
        // The advert first, so the old master drops the VIPs before our
        // GARPs (keepalived's order).
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        self.log(out, Level::Info, "Entering MASTER STATE".into());
        if self.master_adver_int != self.cfg.adver_int {
            self.log(
                out,
                Level::Debug,
                format!(
                    "changing advert interval from {}ms to locally configured {}ms",
                    self.master_adver_int.as_millis(),
                    self.cfg.adver_int.as_millis()
                ),
            );
            self.master_adver_int = self.cfg.adver_int;
        }
        self.log(out, Level::Debug, "setting VIPs.".into());
        out.push(Action::AddVips);
        self.send_garps(out, self.cfg.garp_master_repeat);
        if let Some(r) = self.cfg.garp_master_refresh {
            if !r.is_zero() {
                self.garp_refresh_at = Some(now + r);
            }
        }
        self.notify(out);
        if !self.cfg.garp_master_delay.is_zero() {
            self.garp_delay_at = Some(now + self.cfg.garp_master_delay);
        }
        self.master_addr = Some(self.cfg.primary_addr);
        self.master_priority = self.priority;
        self.timer = Some(now + self.cfg.adver_int);
    }

    /// Leave MASTER: to BACKUP (higher advert: no priority 0), to FAULT or
    /// STOP (priority 0 first).
    fn leave_master(&mut self, to: State, now: Time, out: &mut Vec<Action>) {
        match to {
            State::Backup => {
                self.log(out, Level::Info, "Entering BACKUP STATE".into());
                self.log(out, Level::Debug, "removing VIPs.".into());
                out.push(Action::RemoveVips);
                self.state = State::Backup;
                self.clear_timers();
                self.notify(out);
                self.timer = Some(now + self.master_down_interval());
            }
            State::Fault => {
                self.log(out, Level::Info, "Entering FAULT STATE".into());
                out.push(Action::SendAdvert {
                    priority: PRIO_STOP,
                });
                self.log(out, Level::Debug, "sent 0 priority".into());
                self.log(out, Level::Debug, "removing VIPs.".into());
                out.push(Action::RemoveVips);
                self.state = State::Fault;
                self.clear_timers();
                self.master_adver_int = self.cfg.adver_int;
                self.notify(out);
            }
            _ => {
                out.push(Action::SendAdvert {
                    priority: PRIO_STOP,
                });
                self.log(out, Level::Debug, "sent 0 priority".into());
                self.log(out, Level::Debug, "removing VIPs.".into());
                out.push(Action::RemoveVips);
                self.state = State::Stopped;
                self.clear_timers();
                self.notify(out);
            }
        }
    }

    fn backup_rx(&mut self, from: IpAddr, adv: &Advert, now: Time, out: &mut Vec<Action>) {
        if adv.priority == PRIO_STOP {
            self.log(
                out,
                Level::Debug,
                "Backup received priority 0 advertisement".into(),
            );
            self.timer = Some(now + self.skew_time());
            return;
        }
        let delay_running =
            !self.cfg.preempt_delay.is_zero() && self.preempt_until.is_none_or(|t| t > now);
        if !self.cfg.preempt || adv.priority >= self.priority || delay_running {
            if self.cfg.version == Version::V3 {
                let learned = adv.interval();
                if learned != self.master_adver_int && !learned.is_zero() {
                    self.log(
                        out,
                        Level::Debug,
                        format!(
                            "advertisement interval updated from {}ms to {}ms by master",
                            self.master_adver_int.as_millis(),
                            learned.as_millis()
                        ),
                    );
                    self.master_adver_int = learned;
                }
            }
            self.timer = Some(now + self.master_down_interval());
            self.want_master = false;
            self.master_addr = Some(from);
            self.master_priority = adv.priority;
            if !self.cfg.preempt_delay.is_zero() {
                if adv.priority >= self.priority {
                    if self.preempt_until.take().is_some() {
                        self.log(out, Level::Debug, "stop preempt delay".into());
                    }
                } else if self.preempt_until.is_none() {
                    let d = self.cfg.preempt_delay;
                    self.log(
                        out,
                        Level::Debug,
                        format!(
                            "start preempt delay ({}.{:06})",
                            d.as_secs(),
                            d.subsec_micros()
                        ),
                    );
                    self.preempt_until = Some(now + d);
                }
            }
        } else {
            self.log(
                out,
                Level::Info,
                format!(
                    "received lower priority ({}) advert from {} - discarding",
                    adv.priority, from
                ),
            );
            self.master_addr = Some(from);
        }
    }

    /// -1, 0, 1: `from` compared with our primary address (0 when the
    /// families differ, as keepalived).
    fn addr_cmp(&self, from: IpAddr) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (from, self.cfg.primary_addr) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a.cmp(&b),
            (IpAddr::V6(a), IpAddr::V6(b)) => a.cmp(&b),
            _ => Ordering::Equal,
        }
    }

    fn master_rx(&mut self, from: IpAddr, adv: &Advert, now: Time, out: &mut Vec<Action>) {
        use std::cmp::Ordering;
        let cmp = self.addr_cmp(from);
        if adv.priority == PRIO_STOP {
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
            self.log(
                out,
                Level::Debug,
                "Master received priority 0 message".into(),
            );
            return;
        }
        if adv.priority == self.priority {
            if cmp == Ordering::Equal {
                self.log(
                    out,
                    Level::Warn,
                    "WARNING - equal priority advert received from remote host with our IP address."
                        .into(),
                );
            } else if self.priority == PRIO_OWNER {
                self.log(
                    out,
                    Level::Warn,
                    "CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority".into(),
                );
                self.priority = PRIO_OWNER - 1;
                self.base_priority = PRIO_OWNER - 1;
            }
        }
        if adv.priority < self.priority || (adv.priority == self.priority && cmp == Ordering::Less)
        {
            self.log(
                out,
                Level::Info,
                format!(
                    "Received advert from {} with lower priority {}, ours {}, forcing new election",
                    from, adv.priority, self.priority
                ),
            );
            if !self.cfg.lower_prio_no_advert {
                out.push(Action::SendAdvert {
                    priority: self.priority,
                });
            }
            if self.lower_prio_garp.0 > 0 {
                self.send_garps(out, self.lower_prio_garp.0);
                if !self.lower_prio_garp.1.is_zero() && self.garp_lower_at.is_none() {
                    self.garp_lower_at = Some(now + self.lower_prio_garp.1);
                }
            }
            return;
        }
        if adv.priority > self.priority
            || (adv.priority == self.priority && cmp == Ordering::Greater)
        {
            if adv.priority > self.priority {
                self.log(
                    out,
                    Level::Info,
                    format!(
                        "Master received advert from {} with higher priority {}, ours {}",
                        from, adv.priority, self.priority
                    ),
                );
            } else {
                self.log(
                    out,
                    Level::Info,
                    format!(
                        "Master received advert from {} with same priority {} but higher IP address than ours",
                        from, adv.priority
                    ),
                );
            }
            if self.cfg.version == Version::V3 && !adv.interval().is_zero() {
                self.master_adver_int = adv.interval();
            }
            self.master_addr = Some(from);
            self.master_priority = adv.priority;
            if self.cfg.higher_prio_send_advert {
                out.push(Action::SendAdvert {
                    priority: self.priority,
                });
            }
            self.leave_master(State::Backup, now, out);
        }
    }

    fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        match self.state {
            State::Backup if self.timer.is_some_and(|t| t <= now) => {
                self.log(out, Level::Debug, "Receive advertisement timeout".into());
                if self.cfg.sync_group && !self.sync_may_master {
                    // Hold in BACKUP until the whole group wants MASTER.
                    self.want_master = true;
                    self.timer = Some(now + self.master_down_interval());
                } else {
                    self.become_master(now, out);
                }
            }
            State::Master => {
                if self.garp_delay_at.is_some_and(|t| t <= now) {
                    self.garp_delay_at = None;
                    self.send_garps(out, self.cfg.garp_master_repeat);
                }
                if self.garp_lower_at.is_some_and(|t| t <= now) {
                    self.garp_lower_at = None;
                    self.send_garps(out, self.lower_prio_garp.0);
                }
                if self.timer.is_some_and(|t| t <= now) {
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.timer = Some(now + self.cfg.adver_int);
                }
                if self.garp_refresh_at.is_some_and(|t| t <= now) {
                    self.send_garps(out, self.cfg.garp_master_refresh_repeat);
                    self.garp_refresh_at = self.cfg.garp_master_refresh.map(|r| now + r);
                }
            }
            _ => {}
        }
    }

    fn on_priority(&mut self, total: u8, now: Time, out: &mut Vec<Action>) {
        if self.base_priority == PRIO_OWNER {
            return;
        }
        let new = total.clamp(1, PRIO_OWNER - 1);
        if new == self.priority {
            return;
        }
        self.log(
            out,
            Level::Info,
            format!(
                "Changing effective priority from {} to {}",
                self.priority, new
            ),
        );
        let old_down = self.master_down_interval();
        self.priority = new;
        if self.state == State::Backup {
            // Shift the running down timer by the change of skew, as
            // keepalived does.
            let new_down = self.master_down_interval();
            if let Some(t) = self.timer {
                self.timer = Some(if new_down >= old_down {
                    t + (new_down - old_down)
                } else {
                    t.saturating_sub(old_down - new_down).max(now)
                });
            }
        }
    }

    fn fault_changed(&mut self, was: bool, now: Time, out: &mut Vec<Action>) {
        let is = self.faulted();
        if was == is {
            return;
        }
        match (self.state, is) {
            (State::Master, true) => self.leave_master(State::Fault, now, out),
            (State::Backup, true) => {
                self.state = State::Fault;
                self.clear_timers();
                self.master_adver_int = self.cfg.adver_int;
                self.log(out, Level::Info, "Entering FAULT STATE".into());
                self.notify(out);
            }
            (State::Fault, false) => {
                self.master_adver_int = self.cfg.adver_int;
                if self.base_priority == PRIO_OWNER {
                    self.become_master(now, out);
                } else {
                    self.enter_backup(now, out, "Entering BACKUP STATE");
                }
            }
            _ => {}
        }
    }

    fn on_shutdown(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Master => self.leave_master(State::Stopped, Duration::ZERO, out),
            State::Stopped => {}
            _ => {
                self.state = State::Stopped;
                self.clear_timers();
                self.notify(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Auth;

    const SELF: &str = "10.0.2.11";
    const PEER_LOW: &str = "10.0.2.5";
    const PEER_HIGH: &str = "10.0.2.20";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ms(n: u64) -> Time {
        Duration::from_millis(n)
    }

    fn us(n: u64) -> Time {
        Duration::from_micros(n)
    }

    fn cfg(version: Version, priority: u8) -> Config {
        Config {
            name: "vif1".into(),
            interface: "eth0".into(),
            version,
            vrid: 51,
            priority,
            adver_int: Duration::from_secs(1),
            primary_addr: ip(SELF),
            vips: vec![Vip {
                addr: ip("10.0.2.100"),
                dev: "eth0".into(),
            }],
            ..Config::default()
        }
    }

    fn advert(version: Version, priority: u8, interval_cs: u16) -> Advert {
        Advert {
            version,
            vrid: 51,
            priority,
            interval_cs,
            auth: Auth::None,
            addrs: vec![ip("10.0.2.100")],
        }
    }

    /// Compact rendering of actions, for golden-style comparisons.
    fn render(a: &Action) -> String {
        match a {
            Action::SendAdvert { priority } => format!("advert {priority}"),
            Action::AddVips => "add-vips".into(),
            Action::RemoveVips => "remove-vips".into(),
            Action::SendGarp { repeat } => format!("garp {repeat}"),
            Action::Notify { state, priority } => format!("notify {state} {priority}"),
            Action::Log { level, msg } => {
                let l = match level {
                    Level::Warn => "W",
                    Level::Info => "I",
                    Level::Debug => "D",
                };
                format!("{l}: {msg}")
            }
        }
    }

    /// A machine, a virtual clock and a log of everything it did.
    struct Sim {
        m: Machine,
        now: Time,
    }

    impl Sim {
        fn new(cfg: Config) -> Sim {
            Sim {
                m: Machine::new(cfg),
                now: Duration::ZERO,
            }
        }

        fn started(cfg: Config) -> Sim {
            let mut s = Sim::new(cfg);
            s.ev(Event::Startup);
            s
        }

        fn ev(&mut self, e: Event) -> Vec<String> {
            self.m.handle(e, self.now).iter().map(render).collect()
        }

        fn ev_no_logs(&mut self, e: Event) -> Vec<String> {
            self.ev(e)
                .into_iter()
                .filter(|s| !s.starts_with("D: ") && !s.starts_with("I: "))
                .collect()
        }

        fn rx(&mut self, from: &str, priority: u8) -> Vec<String> {
            let v = self.m.config().version;
            let cs = (self.m.config().adver_int.as_millis() / 10) as u16;
            self.ev(Event::Advert {
                from: ip(from),
                advert: advert(v, priority, cs),
            })
        }

        /// Advance the clock to `t`, delivering Timer at every deadline on
        /// the way; returns `(ms, action)` for everything that happened.
        fn run_to(&mut self, t: Time) -> Vec<(u128, String)> {
            let mut out = Vec::new();
            while let Some(d) = self.m.next_deadline() {
                if d > t {
                    break;
                }
                assert!(d >= self.now, "deadline in the past");
                self.now = d;
                let acts = self.m.handle(Event::Timer, d);
                assert!(!acts.is_empty(), "timer at {d:?} did nothing");
                out.extend(acts.iter().map(|a| (d.as_millis(), render(a))));
            }
            self.now = t;
            out
        }

        fn at(&mut self, t: Time) {
            let fired = self.run_to(t);
            let _ = fired;
        }
    }

    #[test]
    fn skew_and_down_interval() {
        let s = Duration::from_secs(1);
        // v2: (256 - prio) / 256 s, whatever the interval.
        assert_eq!(skew_time(Version::V2, 100, s), us(609_375));
        assert_eq!(skew_time(Version::V2, 102, s * 5), us(601_562));
        assert_eq!(skew_time(Version::V2, 255, s), us(3_906));
        assert_eq!(skew_time(Version::V2, 254, s), us(7_812));
        assert_eq!(skew_time(Version::V2, 1, s), us(996_093));
        assert_eq!(skew_time(Version::V2, 0, s), us(1_000_000));
        // v3: (256 - prio) * Master_Adver_Interval / 256.
        assert_eq!(skew_time(Version::V3, 100, s), us(609_375));
        assert_eq!(skew_time(Version::V3, 200, ms(500)), us(109_375));
        assert_eq!(skew_time(Version::V3, 150, ms(20)), us(8_281));
        assert_eq!(skew_time(Version::V3, 1, ms(40950)), us(40_790_039));
        assert_eq!(skew_time(Version::V3, 255, ms(10)), us(39));
        assert_eq!(
            master_down_interval(Version::V3, 150, s, 3),
            s * 3 + us(414_062)
        );
        assert_eq!(
            master_down_interval(Version::V3, 100, ms(500), 3),
            ms(1500) + us(304_687)
        );
        assert_eq!(
            master_down_interval(Version::V2, 102, s * 2, 3),
            s * 6 + us(601_562)
        );
        let m = Machine::new(cfg(Version::V2, 102));
        assert_eq!(m.skew_time(), us(601_562));
        assert_eq!(m.master_down_interval(), ms(3601) + us(562));
    }

    #[test]
    fn effective_priority_rules() {
        assert_eq!(effective_priority(100, 0), 100);
        assert_eq!(effective_priority(100, -2), 98);
        assert_eq!(effective_priority(100, 50), 150);
        assert_eq!(effective_priority(100, 200), 254);
        assert_eq!(effective_priority(100, -200), 1);
        assert_eq!(effective_priority(254, 1), 254);
        assert_eq!(effective_priority(255, -50), 255);
        assert_eq!(effective_priority(1, i32::MIN), 1);
        assert_eq!(effective_priority(1, i32::MAX), 254);
    }

    #[test]
    fn startup_goes_backup() {
        for v in [Version::V2, Version::V3] {
            let mut s = Sim::new(cfg(v, 102));
            assert_eq!(s.m.state(), State::Init);
            assert_eq!(s.m.next_deadline(), None);
            assert_eq!(
                s.ev(Event::Startup),
                [
                    "D: (vif1) removing VIPs.",
                    "remove-vips",
                    "I: (vif1) Entering BACKUP STATE (init)",
                    "notify BACKUP 102",
                ]
            );
            assert_eq!(s.m.state(), State::Backup);
            assert_eq!(s.m.next_deadline(), Some(ms(3601) + us(562)));
            // A second Startup is ignored.
            assert!(s.ev(Event::Startup).is_empty());
        }
    }

    #[test]
    fn startup_owner_goes_master_at_once() {
        for v in [Version::V2, Version::V3] {
            let mut s = Sim::new(cfg(v, 255));
            assert_eq!(
                s.ev(Event::Startup),
                [
                    "D: (vif1) removing VIPs.",
                    "remove-vips",
                    "D: (vif1) Receive advertisement timeout",
                    "advert 255",
                    "I: (vif1) Entering MASTER STATE",
                    "D: (vif1) setting VIPs.",
                    "add-vips",
                    "I: (vif1) Sending/queueing gratuitous ARPs on eth0 for 10.0.2.100",
                    "garp 5",
                    "notify MASTER 255",
                ]
            );
            assert_eq!(s.m.state(), State::Master);
            assert_eq!(s.m.next_deadline(), Some(ms(1000)));
        }
    }

    #[test]
    fn startup_with_link_down_goes_fault() {
        let mut s = Sim::new(cfg(Version::V2, 255));
        assert!(s.ev(Event::InterfaceDown).is_empty());
        assert_eq!(
            s.ev(Event::Startup),
            [
                "D: (vif1) removing VIPs.",
                "remove-vips",
                "I: (vif1) Entering FAULT STATE (init)",
                "notify FAULT 255",
            ]
        );
        assert_eq!(s.m.next_deadline(), None);
        // Owner recovers straight to MASTER.
        let out = s.ev_no_logs(Event::InterfaceUp);
        assert_eq!(
            out,
            ["advert 255", "add-vips", "garp 5", "notify MASTER 255"]
        );
        assert_eq!(s.m.state(), State::Master);

        let mut s = Sim::new(cfg(Version::V3, 100));
        s.ev(Event::Fault(true));
        s.ev(Event::Startup);
        assert_eq!(s.m.state(), State::Fault);
        assert_eq!(
            s.ev(Event::Fault(false)),
            ["I: (vif1) Entering BACKUP STATE", "notify BACKUP 100"]
        );
        assert_eq!(s.m.next_deadline(), Some(ms(3609) + us(375)));
    }

    #[test]
    fn backup_times_out_to_master_then_advertises() {
        let mut c = cfg(Version::V2, 102);
        c.vips.push(Vip {
            addr: ip("fd00::100"),
            dev: "eth1".into(),
        });
        let mut s = Sim::started(c);
        let down = ms(3601) + us(562);
        assert!(s.run_to(down - us(1)).is_empty());
        let t = down.as_millis();
        assert_eq!(
            s.run_to(down),
            [
                (t, "D: (vif1) Receive advertisement timeout".to_string()),
                (t, "advert 102".into()),
                (t, "I: (vif1) Entering MASTER STATE".into()),
                (t, "D: (vif1) setting VIPs.".into()),
                (t, "add-vips".into()),
                (
                    t,
                    "I: (vif1) Sending/queueing gratuitous ARPs on eth0 for 10.0.2.100".into()
                ),
                (
                    t,
                    "I: (vif1) Sending/queueing Unsolicited Neighbour Adverts on eth1 for fd00::100"
                        .into()
                ),
                (t, "garp 5".into()),
                (t, "notify MASTER 102".into()),
            ]
        );
        // Then one advert per second and the second GARP burst 5 s later.
        let fired: Vec<(u128, String)> = s
            .run_to(down + ms(6000))
            .into_iter()
            .filter(|(_, a)| !a.starts_with("I: "))
            .collect();
        let expect: Vec<(u128, String)> = vec![
            (t + 1000, "advert 102".into()),
            (t + 2000, "advert 102".into()),
            (t + 3000, "advert 102".into()),
            (t + 4000, "advert 102".into()),
            // The delayed burst and the advert fall on the same instant.
            (t + 5000, "garp 5".into()),
            (t + 5000, "advert 102".into()),
            (t + 6000, "advert 102".into()),
        ];
        assert_eq!(fired, expect);
    }

    #[test]
    fn garp_refresh_and_no_delay() {
        let mut c = cfg(Version::V3, 255);
        c.garp_master_delay = Duration::ZERO;
        c.garp_master_refresh = Some(Duration::from_secs(3));
        c.garp_master_refresh_repeat = 2;
        let mut s = Sim::started(c);
        let garps: Vec<(u128, String)> = s
            .run_to(ms(10_000))
            .into_iter()
            .filter(|(_, a)| a.starts_with("garp"))
            .collect();
        assert_eq!(
            garps,
            [
                (3000, "garp 2".to_string()),
                (6000, "garp 2".into()),
                (9000, "garp 2".into())
            ]
        );
        // No VIPs: no GARP action at all.
        let mut c = cfg(Version::V3, 255);
        c.vips.clear();
        let mut s = Sim::new(c);
        assert!(!s.ev(Event::Startup).iter().any(|a| a.starts_with("garp")));
        assert!(s
            .run_to(ms(6000))
            .iter()
            .all(|(_, a)| !a.starts_with("garp")));
    }

    #[test]
    fn backup_rx_rules() {
        for v in [Version::V2, Version::V3] {
            let mut s = Sim::started(cfg(v, 102));
            let down = s.m.master_down_interval();
            // Higher priority: timer reset.
            s.at(ms(2000));
            assert!(s.rx(PEER_LOW, 103).is_empty());
            assert_eq!(s.m.next_deadline(), Some(ms(2000) + down));
            assert_eq!(s.m.master(), Some((ip(PEER_LOW), 103)));
            // Equal priority (whatever the address): timer reset.
            s.at(ms(3000));
            assert!(s.rx(PEER_LOW, 102).is_empty());
            assert_eq!(s.m.next_deadline(), Some(ms(3000) + down));
            // Lower priority: discarded, timer keeps running.
            s.at(ms(4000));
            assert_eq!(
                s.rx(PEER_HIGH, 101),
                ["I: (vif1) received lower priority (101) advert from 10.0.2.20 - discarding"]
            );
            assert_eq!(s.m.next_deadline(), Some(ms(3000) + down));
            // Priority 0: timer = skew time.
            s.at(ms(5000));
            assert_eq!(
                s.rx(PEER_LOW, 0),
                ["D: (vif1) Backup received priority 0 advertisement"]
            );
            assert_eq!(s.m.next_deadline(), Some(ms(5000) + us(601_562)));
            s.at(ms(5601));
            assert_eq!(s.m.state(), State::Backup);
            s.at(ms(5602));
            assert_eq!(s.m.state(), State::Master);
        }
    }

    #[test]
    fn nopreempt_keeps_lower_master() {
        let mut c = cfg(Version::V2, 150);
        c.preempt = false;
        let mut s = Sim::started(c);
        let down = s.m.master_down_interval();
        for i in 1..20u64 {
            s.at(ms(i * 1000));
            assert!(s.rx(PEER_LOW, 100).is_empty());
            assert_eq!(s.m.next_deadline(), Some(ms(i * 1000) + down));
        }
        assert_eq!(s.m.state(), State::Backup);
        // Priority 0 still triggers the takeover after the skew.
        s.rx(PEER_LOW, 0);
        s.at(ms(19_000) + s.m.skew_time());
        assert_eq!(s.m.state(), State::Master);
        // And the master, once master, defends against the lower one.
        let out = s.rx(PEER_LOW, 100);
        assert_eq!(
            out[0],
            "I: (vif1) Received advert from 10.0.2.5 with lower priority 100, ours 150, forcing new election"
        );
        assert_eq!(out[1], "advert 150");
        // Silence also makes a nopreempt backup master.
        let mut c = cfg(Version::V2, 150);
        c.preempt = false;
        let mut s = Sim::started(c);
        s.rx(PEER_LOW, 100);
        s.at(s.m.master_down_interval());
        assert_eq!(s.m.state(), State::Master);
    }

    #[test]
    fn preempt_delay() {
        for v in [Version::V2, Version::V3] {
            let mut c = cfg(v, 150);
            c.preempt_delay = Duration::from_secs(10);
            let mut s = Sim::started(c);
            let down = s.m.master_down_interval();
            s.at(ms(1000));
            // The first lower advert starts the delay and resets the timer.
            assert_eq!(
                s.rx(PEER_LOW, 100),
                ["D: (vif1) start preempt delay (10.000000)"]
            );
            assert_eq!(s.m.next_deadline(), Some(ms(1000) + down));
            // While it runs, lower adverts reset the timer.
            for i in 2..=10u64 {
                s.at(ms(i * 1000));
                assert!(s.rx(PEER_LOW, 100).is_empty(), "at {i}");
                assert_eq!(s.m.next_deadline(), Some(ms(i * 1000) + down));
            }
            // At 11 s it has expired: discard, timer keeps running.
            s.at(ms(11_000));
            assert_eq!(
                s.rx(PEER_LOW, 100),
                ["I: (vif1) received lower priority (100) advert from 10.0.2.5 - discarding"]
            );
            assert_eq!(s.m.next_deadline(), Some(ms(10_000) + down));
            s.at(ms(10_000) + down);
            assert_eq!(s.m.state(), State::Master);

            // A higher advert stops a running delay; the next lower one
            // starts it again.
            let mut c = cfg(v, 150);
            c.preempt_delay = Duration::from_secs(10);
            let mut s = Sim::started(c);
            s.at(ms(1000));
            s.rx(PEER_LOW, 100);
            s.at(ms(2000));
            assert_eq!(s.rx(PEER_LOW, 200), ["D: (vif1) stop preempt delay"]);
            s.at(ms(3000));
            assert_eq!(
                s.rx(PEER_LOW, 100),
                ["D: (vif1) start preempt delay (10.000000)"]
            );
            for i in 4..=12u64 {
                s.at(ms(i * 1000 + 500));
                assert!(s.rx(PEER_LOW, 100).is_empty(), "at {i}");
            }
            s.at(ms(13_500));
            assert_eq!(s.rx(PEER_LOW, 100).len(), 1);
            // Leaving master and coming back to backup resets the delay.
            s.at(ms(20_000));
            assert_eq!(s.m.state(), State::Master);
            s.rx(PEER_LOW, 200);
            assert_eq!(s.m.state(), State::Backup);
            assert_eq!(
                s.rx(PEER_LOW, 100),
                ["D: (vif1) start preempt delay (10.000000)"]
            );
        }
    }

    fn master(v: Version, prio: u8) -> Sim {
        let mut s = Sim::started(cfg(v, prio));
        let d = s.m.master_down_interval();
        s.at(d);
        assert_eq!(s.m.state(), State::Master);
        s
    }

    #[test]
    fn master_rx_higher_goes_backup() {
        for v in [Version::V2, Version::V3] {
            let mut s = master(v, 102);
            let now = s.now;
            assert_eq!(
                s.rx(PEER_LOW, 103),
                [
                    "I: (vif1) Master received advert from 10.0.2.5 with higher priority 103, ours 102",
                    "I: (vif1) Entering BACKUP STATE",
                    "D: (vif1) removing VIPs.",
                    "remove-vips",
                    "notify BACKUP 102",
                ]
            );
            assert_eq!(s.m.state(), State::Backup);
            assert_eq!(s.m.next_deadline(), Some(now + s.m.master_down_interval()));
        }
    }

    #[test]
    fn master_rx_equal_priority_tie_break() {
        // Equal priority from a higher address: we lose.
        let mut s = master(Version::V2, 102);
        assert_eq!(
            s.rx(PEER_HIGH, 102),
            [
                "I: (vif1) Master received advert from 10.0.2.20 with same priority 102 but higher IP address than ours",
                "I: (vif1) Entering BACKUP STATE",
                "D: (vif1) removing VIPs.",
                "remove-vips",
                "notify BACKUP 102",
            ]
        );
        // From a lower address: we win and say so at once.
        let mut s = master(Version::V3, 102);
        assert_eq!(
            s.rx(PEER_LOW, 102),
            [
                "I: (vif1) Received advert from 10.0.2.5 with lower priority 102, ours 102, forcing new election",
                "advert 102",
                "I: (vif1) Sending/queueing gratuitous ARPs on eth0 for 10.0.2.100",
                "garp 5",
            ]
        );
        assert_eq!(s.m.state(), State::Master);
        // From our own address: a warning, nothing else.
        let mut s = master(Version::V2, 102);
        assert_eq!(
            s.rx(SELF, 102),
            [
                "W: (vif1) WARNING - equal priority advert received from remote host with our IP address."
            ]
        );
        assert_eq!(s.m.state(), State::Master);
        // IPv6 addresses compare too.
        let mut c = cfg(Version::V3, 100);
        c.primary_addr = ip("fe80::11");
        c.vips = vec![Vip {
            addr: ip("fd00::100"),
            dev: "eth0".into(),
        }];
        let mut s = Sim::started(c);
        let d = s.m.master_down_interval();
        s.at(d);
        assert_eq!(s.m.state(), State::Master);
        s.rx("fe80::10", 100);
        assert_eq!(s.m.state(), State::Master);
        s.rx("fe80::12", 100);
        assert_eq!(s.m.state(), State::Backup);
    }

    #[test]
    fn master_rx_lower_forces_election_and_delayed_garp() {
        let mut s = master(Version::V2, 102);
        let t0 = s.now;
        s.at(t0 + ms(5500)); // past the delayed master GARP burst
        let t = s.now;
        assert_eq!(
            s.rx(PEER_LOW, 101),
            [
                "I: (vif1) Received advert from 10.0.2.5 with lower priority 101, ours 102, forcing new election",
                "advert 102",
                "I: (vif1) Sending/queueing gratuitous ARPs on eth0 for 10.0.2.100",
                "garp 5",
            ]
        );
        let garps: Vec<u128> = s
            .run_to(t + ms(6000))
            .into_iter()
            .filter(|(_, a)| a.starts_with("garp"))
            .map(|(t, _)| t)
            .collect();
        assert_eq!(garps, [(t + ms(5000)).as_millis()]);
        // Disabled.
        let mut s = master(Version::V2, 102);
        s.m.set_lower_prio_garp(0, Duration::ZERO);
        assert_eq!(s.rx(PEER_LOW, 101).len(), 2);
    }

    #[test]
    fn lower_prio_keywords() {
        // garp_lower_prio_repeat / _delay from the config.
        let mut c = cfg(Version::V2, 102);
        c.garp_lower_prio_repeat = Some(2);
        c.garp_lower_prio_delay = Some(ms(1000));
        c.lower_prio_no_advert = true;
        let mut s = Sim::started(c);
        let d = s.m.master_down_interval();
        s.at(d + ms(5500));
        assert_eq!(s.m.state(), State::Master);
        let t = s.now;
        // lower_prio_no_advert: no advert of our own, GARPs still go out.
        assert_eq!(
            s.rx(PEER_LOW, 101),
            [
                "I: (vif1) Received advert from 10.0.2.5 with lower priority 101, ours 102, forcing new election",
                "I: (vif1) Sending/queueing gratuitous ARPs on eth0 for 10.0.2.100",
                "garp 2",
            ]
        );
        let garps: Vec<(u128, String)> = s
            .run_to(t + ms(1500))
            .into_iter()
            .filter(|(_, a)| a.starts_with("garp"))
            .collect();
        assert_eq!(garps, [((t + ms(1000)).as_millis(), "garp 2".to_string())]);
        // Repeat 0 turns the GARPs off; the advert is back by default.
        let mut c = cfg(Version::V2, 102);
        c.garp_lower_prio_repeat = Some(0);
        let mut s = Sim::started(c);
        let d = s.m.master_down_interval();
        s.at(d);
        assert_eq!(s.rx(PEER_LOW, 101).len(), 2);
    }

    #[test]
    fn higher_prio_send_advert_before_backup() {
        let mut c = cfg(Version::V2, 102);
        c.higher_prio_send_advert = true;
        let mut s = Sim::started(c);
        let d = s.m.master_down_interval();
        s.at(d);
        let out = s.rx(PEER_LOW, 103);
        let adv = out.iter().position(|a| a == "advert 102");
        let backup = out
            .iter()
            .position(|a| a.ends_with("Entering BACKUP STATE"));
        assert!(adv.is_some() && adv < backup, "{out:?}");
        assert_eq!(s.m.state(), State::Backup);
        // Off by default: no advert.
        let mut s = master(Version::V2, 102);
        assert!(!s.rx(PEER_LOW, 103).iter().any(|a| a.starts_with("advert")));
    }

    #[test]
    fn master_rx_priority_zero_sends_advert() {
        let mut s = master(Version::V3, 102);
        let next = s.m.next_deadline();
        assert_eq!(
            s.rx(PEER_HIGH, 0),
            ["advert 102", "D: (vif1) Master received priority 0 message"]
        );
        assert_eq!(s.m.state(), State::Master);
        assert_eq!(s.m.next_deadline(), next);
    }

    #[test]
    fn owner_conflict_lowers_priority() {
        let mut s = Sim::started(cfg(Version::V2, 255));
        assert_eq!(
            s.rx(PEER_LOW, 255),
            [
                "W: (vif1) CONFIGURATION ERROR: local instance and a remote instance are both configured as address owner, please fix - reducing local priority",
                "I: (vif1) Master received advert from 10.0.2.5 with higher priority 255, ours 254",
                "I: (vif1) Entering BACKUP STATE",
                "D: (vif1) removing VIPs.",
                "remove-vips",
                "notify BACKUP 254",
            ]
        );
        assert_eq!(s.m.priority(), 254);
        assert_eq!(s.m.base_priority(), 254);
        // Priority changes now apply (no longer an owner).
        s.ev(Event::PriorityChanged(200));
        assert_eq!(s.m.priority(), 200);
    }

    #[test]
    fn v3_backup_learns_master_interval() {
        let mut s = Sim::started(cfg(Version::V3, 100));
        assert_eq!(s.m.master_adver_int(), ms(1000));
        s.at(ms(500));
        let out = s.ev(Event::Advert {
            from: ip(PEER_LOW),
            advert: advert(Version::V3, 150, 50),
        });
        assert_eq!(
            out,
            ["D: (vif1) advertisement interval updated from 1000ms to 500ms by master"]
        );
        assert_eq!(s.m.master_adver_int(), ms(500));
        // 3 x 0.5 s + (156 x 0.5 s / 256).
        assert_eq!(s.m.master_down_interval(), ms(1500) + us(304_687));
        assert_eq!(s.m.next_deadline(), Some(ms(2000) + us(304_687)));
        // A lower priority (discarded) advert teaches nothing.
        s.ev(Event::Advert {
            from: ip(PEER_LOW),
            advert: advert(Version::V3, 90, 20),
        });
        assert_eq!(s.m.master_adver_int(), ms(500));
        // Becoming master goes back to our own interval.
        s.at(ms(2000) + us(304_687));
        assert_eq!(s.m.state(), State::Master);
        assert_eq!(s.m.master_adver_int(), ms(1000));
        assert_eq!(s.m.next_deadline(), Some(ms(3000) + us(304_687)));
        // A master losing to a v3 master learns its interval.
        s.ev(Event::Advert {
            from: ip(PEER_LOW),
            advert: advert(Version::V3, 150, 300),
        });
        assert_eq!(s.m.state(), State::Backup);
        assert_eq!(s.m.master_adver_int(), ms(3000));
        assert_eq!(
            s.m.master_down_interval(),
            ms(9000) + us(156 * 3_000_000 / 256)
        );
        // v2 never learns (interval mismatches are dropped by validation).
        let mut s = Sim::started(cfg(Version::V2, 100));
        let mut a = advert(Version::V2, 150, 300);
        a.auth = Auth::None;
        s.ev(Event::Advert {
            from: ip(PEER_LOW),
            advert: a,
        });
        assert_eq!(s.m.master_adver_int(), ms(1000));
    }

    #[test]
    fn priority_changes() {
        // Backup: the running timer moves by the change of skew.
        let mut s = Sim::started(cfg(Version::V2, 103));
        let d0 = s.m.next_deadline().unwrap();
        assert_eq!(
            s.ev(Event::PriorityChanged(101)),
            ["I: (vif1) Changing effective priority from 103 to 101"]
        );
        assert_eq!(s.m.priority(), 101);
        assert_eq!(
            s.m.next_deadline().unwrap(),
            d0 + (skew_time(Version::V2, 101, ms(1000)) - skew_time(Version::V2, 103, ms(1000)))
        );
        assert!(s.ev(Event::PriorityChanged(101)).is_empty());
        // Clamped to 1..=254.
        s.ev(Event::PriorityChanged(255));
        assert_eq!(s.m.priority(), 254);
        s.ev(Event::PriorityChanged(0));
        assert_eq!(s.m.priority(), 1);

        // Master: stays master, advertises the new priority.
        let mut s = master(Version::V2, 103);
        s.ev(Event::PriorityChanged(101));
        assert_eq!(s.m.state(), State::Master);
        let t = s.m.next_deadline().unwrap();
        assert_eq!(s.run_to(t)[0].1, "advert 101");
        // ...until a higher advert arrives.
        s.rx(PEER_LOW, 102);
        assert_eq!(s.m.state(), State::Backup);

        // Owner: never changes.
        let mut s = Sim::started(cfg(Version::V2, 255));
        assert!(s.ev(Event::PriorityChanged(200)).is_empty());
        assert_eq!(s.m.priority(), 255);
    }

    #[test]
    fn backup_rising_above_master_preempts_on_next_advert() {
        let mut s = Sim::started(cfg(Version::V2, 100));
        s.at(ms(1000));
        assert!(s.rx(PEER_LOW, 101).is_empty());
        s.ev(Event::PriorityChanged(102));
        // Nothing happens until the master's next advert...
        assert_eq!(s.m.state(), State::Backup);
        s.at(ms(2000));
        // ...which is now lower: discarded, timer keeps running.
        assert_eq!(s.rx(PEER_LOW, 101).len(), 1);
        s.at(ms(3000));
        assert_eq!(s.rx(PEER_LOW, 101).len(), 1);
        let expiry = ms(1000) + s.m.master_down_interval();
        assert_eq!(s.m.next_deadline(), Some(expiry));
        s.at(expiry);
        assert_eq!(s.m.state(), State::Master);
    }

    #[test]
    fn fault_from_master_sends_priority_zero_then_removes() {
        for ev in [Event::InterfaceDown, Event::Fault(true)] {
            let mut s = master(Version::V2, 102);
            assert_eq!(
                s.ev(ev),
                [
                    "I: (vif1) Entering FAULT STATE",
                    "advert 0",
                    "D: (vif1) sent 0 priority",
                    "D: (vif1) removing VIPs.",
                    "remove-vips",
                    "notify FAULT 102",
                ]
            );
            assert_eq!(s.m.state(), State::Fault);
            assert_eq!(s.m.next_deadline(), None);
            // Adverts and timers do nothing in FAULT.
            assert!(s.rx(PEER_LOW, 1).is_empty());
            assert!(s.ev(Event::Timer).is_empty());
        }
    }

    #[test]
    fn fault_from_backup_and_recovery() {
        let mut s = Sim::started(cfg(Version::V3, 100));
        s.at(ms(1000));
        s.ev(Event::Advert {
            from: ip(PEER_LOW),
            advert: advert(Version::V3, 200, 50),
        });
        assert_eq!(
            s.ev(Event::InterfaceDown),
            ["I: (vif1) Entering FAULT STATE", "notify FAULT 100"]
        );
        // A second fault source while faulted: nothing new.
        assert!(s.ev(Event::Fault(true)).is_empty());
        // One of two cleared: still FAULT.
        assert!(s.ev(Event::InterfaceUp).is_empty());
        assert_eq!(s.m.state(), State::Fault);
        s.at(ms(5000));
        assert_eq!(
            s.ev(Event::Fault(false)),
            ["I: (vif1) Entering BACKUP STATE", "notify BACKUP 100"]
        );
        // The learned interval is forgotten.
        assert_eq!(s.m.master_adver_int(), ms(1000));
        assert_eq!(s.m.next_deadline(), Some(ms(8609) + us(375)));
        // Repeated "up" is a no-op.
        assert!(s.ev(Event::InterfaceUp).is_empty());
        assert!(s.ev(Event::Fault(false)).is_empty());
    }

    #[test]
    fn leaving_master_cancels_its_timers() {
        let mut c = cfg(Version::V2, 102);
        c.garp_master_refresh = Some(Duration::from_secs(2));
        let mut s = master(c.version, 102);
        s.m = Machine::new(c);
        s.now = Duration::ZERO;
        s.ev(Event::Startup);
        let d = s.m.master_down_interval();
        s.at(d);
        s.rx(PEER_LOW, 101); // arms the lower-priority GARP timer
        s.rx(PEER_LOW, 103);
        assert_eq!(s.m.state(), State::Backup);
        // Only the master down timer is left.
        assert_eq!(s.m.next_deadline(), Some(d + s.m.master_down_interval()));
        s.rx(PEER_LOW, 103);
        let later = s.run_to(d + ms(20_000));
        // Exactly one timeout, no GARP bursts of the old mastership before it.
        let first_garp = later.iter().position(|(_, a)| a.starts_with("garp"));
        let entering = later
            .iter()
            .position(|(_, a)| a.ends_with("Entering MASTER STATE"));
        assert!(entering.is_some());
        assert!(first_garp > entering);
    }

    #[test]
    fn shutdown_from_each_state() {
        // Master: priority 0 first, then VIPs.
        let mut s = master(Version::V2, 102);
        assert_eq!(
            s.ev(Event::Shutdown),
            [
                "advert 0",
                "D: (vif1) sent 0 priority",
                "D: (vif1) removing VIPs.",
                "remove-vips",
                "notify STOP 102",
            ]
        );
        assert_eq!(s.m.state(), State::Stopped);
        assert_eq!(s.m.next_deadline(), None);
        // Terminal: everything ignored.
        for e in [
            Event::Startup,
            Event::Timer,
            Event::InterfaceDown,
            Event::InterfaceUp,
            Event::Fault(true),
            Event::PriorityChanged(3),
            Event::Shutdown,
        ] {
            assert!(s.ev(e).is_empty());
        }
        assert!(s.rx(PEER_LOW, 200).is_empty());
        // Backup, fault and init: no advert, no VIP change.
        let mut s = Sim::started(cfg(Version::V3, 100));
        assert_eq!(s.ev(Event::Shutdown), ["notify STOP 100"]);
        let mut s = Sim::started(cfg(Version::V3, 100));
        s.ev(Event::InterfaceDown);
        assert_eq!(s.ev(Event::Shutdown), ["notify STOP 100"]);
        let mut s = Sim::new(cfg(Version::V2, 100));
        assert_eq!(s.ev(Event::Shutdown), ["notify STOP 100"]);
        assert_eq!(s.m.state(), State::Stopped);
    }

    #[test]
    fn adverts_before_startup_are_ignored() {
        let mut s = Sim::new(cfg(Version::V2, 100));
        assert!(s.rx(PEER_LOW, 200).is_empty());
        assert!(s.ev(Event::Timer).is_empty());
        assert!(s.ev(Event::PriorityChanged(90)).len() == 1);
        assert_eq!(s.m.state(), State::Init);
    }

    #[test]
    fn snapshot_serializes() {
        let s = master(Version::V3, 120);
        let snap = s.m.snapshot();
        assert_eq!(snap.state, State::Master);
        assert_eq!(snap.effective_priority, 120);
        assert_eq!(snap.master_addr, Some(ip(SELF)));
        let j = serde_json::to_value(&snap).unwrap();
        assert_eq!(j["state"], "Master");
        assert_eq!(j["version"], 3);
        assert_eq!(j["master_adver_int_ms"], 1000);
    }

    #[test]
    fn state_names() {
        assert_eq!(State::Master.to_string(), "MASTER");
        assert_eq!(State::Backup.keepalived_name(), "BACKUP");
        assert_eq!(State::Fault.keepalived_name(), "FAULT");
        assert_eq!(State::Stopped.keepalived_name(), "STOP");
        assert_eq!(State::Init.keepalived_name(), "INIT");
    }

    // ---- Several machines on a simulated wire ----

    /// Nodes exchanging adverts with zero latency under one virtual clock.
    struct Net {
        nodes: Vec<Machine>,
        up: Vec<bool>,
        now: Time,
        masters_seen: Vec<(Time, usize)>,
        /// Whether each node holds the VIPs (AddVips .. RemoveVips).
        vips: Vec<bool>,
    }

    impl Net {
        fn new(cfgs: Vec<Config>) -> Net {
            let n = cfgs.len();
            let mut net = Net {
                nodes: cfgs.into_iter().map(Machine::new).collect(),
                up: vec![true; n],
                now: Duration::ZERO,
                masters_seen: Vec::new(),
                vips: vec![false; n],
            };
            for i in 0..n {
                net.deliver(i, Event::Startup);
            }
            net
        }

        fn deliver(&mut self, i: usize, e: Event) {
            let acts = self.nodes[i].handle(e, self.now);
            check_order(&acts);
            for a in &acts {
                match a {
                    Action::AddVips => self.vips[i] = true,
                    Action::RemoveVips => self.vips[i] = false,
                    _ => {}
                }
            }
            // Holding the VIPs is the same as being master, always.
            assert_eq!(
                self.vips[i],
                self.nodes[i].state() == State::Master,
                "node {i} at {:?}",
                self.now
            );
            if !self.up[i] {
                return;
            }
            for a in acts {
                if let Action::SendAdvert { priority } = a {
                    let c = self.nodes[i].config();
                    let adv = Advert {
                        version: c.version,
                        vrid: c.vrid,
                        priority,
                        interval_cs: (c.adver_int.as_millis() / 10) as u16,
                        auth: Auth::None,
                        addrs: c.vips.iter().map(|v| v.addr).collect(),
                    };
                    let from = c.primary_addr;
                    for j in 0..self.nodes.len() {
                        if j != i && self.up[j] {
                            self.deliver(
                                j,
                                Event::Advert {
                                    from,
                                    advert: adv.clone(),
                                },
                            );
                        }
                    }
                }
            }
        }

        fn masters(&self) -> Vec<usize> {
            (0..self.nodes.len())
                .filter(|&i| self.nodes[i].state() == State::Master)
                .collect()
        }

        fn run_to(&mut self, t: Time) {
            loop {
                let next = (0..self.nodes.len())
                    .filter_map(|i| self.nodes[i].next_deadline().map(|d| (d, i)))
                    .min();
                match next {
                    Some((d, i)) if d <= t => {
                        self.now = d;
                        self.deliver(i, Event::Timer);
                        let m = self.masters();
                        if m.len() == 1 && self.masters_seen.last().map(|x| x.1) != Some(m[0]) {
                            self.masters_seen.push((d, m[0]));
                        }
                    }
                    _ => break,
                }
            }
            self.now = t;
        }
    }

    /// Ordering rules within one batch of actions: VIPs are added right
    /// after an advert and before GARPs; a priority 0 advert comes before
    /// the VIPs are removed.
    fn check_order(acts: &[Action]) {
        let pos = |f: &dyn Fn(&Action) -> bool| acts.iter().position(f);
        if let Some(add) = pos(&|a| *a == Action::AddVips) {
            assert!(
                acts[..add]
                    .iter()
                    .any(|a| matches!(a, Action::SendAdvert { priority } if *priority > 0)),
                "{acts:?}"
            );
            if let Some(g) = pos(&|a| matches!(a, Action::SendGarp { .. })) {
                assert!(g > add, "{acts:?}");
            }
        }
        if let Some(zero) = pos(&|a| *a == Action::SendAdvert { priority: 0 }) {
            let rm = pos(&|a| *a == Action::RemoveVips);
            assert!(rm.is_some_and(|r| r > zero), "{acts:?}");
        }
    }

    fn node(v: Version, prio: u8, addr: &str) -> Config {
        Config {
            primary_addr: ip(addr),
            ..cfg(v, prio)
        }
    }

    #[test]
    fn two_nodes_elect_one_master() {
        for v in [Version::V2, Version::V3] {
            // Priorities decide.
            let mut net = Net::new(vec![node(v, 100, "10.0.2.1"), node(v, 101, "10.0.2.2")]);
            net.run_to(ms(30_000));
            assert_eq!(net.masters(), [1]);
            // Equal priorities: the higher address wins.
            let mut net = Net::new(vec![node(v, 100, "10.0.2.9"), node(v, 100, "10.0.2.2")]);
            net.run_to(ms(30_000));
            assert_eq!(net.masters(), [0]);
            assert_eq!(net.nodes[1].state(), State::Backup);
            // An owner is master at once and stays.
            let mut net = Net::new(vec![node(v, 255, "10.0.2.1"), node(v, 254, "10.0.2.2")]);
            assert_eq!(net.masters(), [0]);
            net.run_to(ms(30_000));
            assert_eq!(net.masters(), [0]);
        }
    }

    #[test]
    fn master_shutdown_fails_over_within_skew() {
        for v in [Version::V2, Version::V3] {
            let mut net = Net::new(vec![node(v, 150, "10.0.2.1"), node(v, 100, "10.0.2.2")]);
            net.run_to(ms(10_000));
            assert_eq!(net.masters(), [0]);
            net.deliver(0, Event::Shutdown);
            net.up[0] = false;
            assert_eq!(net.masters(), Vec::<usize>::new());
            let skew = net.nodes[1].skew_time();
            net.run_to(ms(10_000) + skew);
            assert_eq!(net.masters(), [1]);
            assert_eq!(net.masters_seen.last(), Some(&(ms(10_000) + skew, 1)));
        }
    }

    #[test]
    fn higher_backup_recovering_preempts_and_nopreempt_does_not() {
        for preempt in [true, false] {
            let mut hi = node(Version::V2, 150, "10.0.2.1");
            hi.preempt = preempt;
            let mut net = Net::new(vec![hi, node(Version::V2, 100, "10.0.2.2")]);
            net.run_to(ms(10_000));
            assert_eq!(net.masters(), [0]);
            // Node 0's link goes down: node 1 takes over.
            net.up[0] = false;
            net.deliver(0, Event::InterfaceDown);
            net.run_to(ms(14_000));
            assert_eq!(net.masters(), [1]);
            net.up[0] = true;
            net.deliver(0, Event::InterfaceUp);
            net.run_to(ms(40_000));
            assert_eq!(net.masters(), if preempt { [0] } else { [1] });
        }
    }

    /// Deterministic random simulation: three nodes, random link flaps,
    /// tracker faults and priority changes; after every batch the VIPs are
    /// held exactly by masters, and after a quiet period exactly one node
    /// is master: the best (priority, address) among the healthy ones.
    #[test]
    fn random_simulation_converges() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut handovers = 0;
        let mut empty = 0;
        for round in 0..150 {
            let v = if round % 2 == 0 {
                Version::V2
            } else {
                Version::V3
            };
            let addrs = ["10.0.2.1", "10.0.2.2", "10.0.2.3"];
            let cfgs: Vec<Config> = addrs
                .iter()
                .map(|a| {
                    let mut c = node(v, 1 + rnd(254) as u8, a);
                    if rnd(4) == 0 {
                        c.preempt_delay = ms(1000 * rnd(5));
                    }
                    c
                })
                .collect();
            let mut net = Net::new(cfgs);
            let mut link = [true; 3];
            let mut fault = [false; 3];
            let mut t = 0u64;
            while t < 40_000 {
                t += 200 + rnd(3000);
                net.run_to(ms(t));
                let i = rnd(3) as usize;
                let e = match rnd(5) {
                    0 => {
                        link[i] = !link[i];
                        if link[i] {
                            Event::InterfaceUp
                        } else {
                            Event::InterfaceDown
                        }
                    }
                    1 => {
                        fault[i] = !fault[i];
                        Event::Fault(fault[i])
                    }
                    _ => Event::PriorityChanged(1 + rnd(254) as u8),
                };
                // A down link neither sends nor receives.
                if matches!(e, Event::InterfaceDown) {
                    net.up[i] = false;
                }
                net.deliver(i, e);
                if link[i] {
                    net.up[i] = true;
                }
            }
            // Heal most nodes, then a quiet period: more than the longest
            // preempt delay plus a few down intervals.
            for i in 0..3 {
                if rnd(3) != 0 {
                    if !link[i] {
                        link[i] = true;
                        net.up[i] = true;
                        net.deliver(i, Event::InterfaceUp);
                    }
                    if fault[i] {
                        fault[i] = false;
                        net.deliver(i, Event::Fault(false));
                    }
                }
            }
            net.run_to(ms(t + 30_000));
            handovers += net.masters_seen.len();
            let healthy: Vec<usize> = (0..3).filter(|&i| link[i] && !fault[i]).collect();
            empty += usize::from(healthy.is_empty());
            let masters = net.masters();
            match healthy
                .iter()
                .max_by_key(|&&i| (net.nodes[i].priority(), net.nodes[i].config().primary_addr))
            {
                None => assert!(masters.is_empty(), "round {round}"),
                Some(&best) => assert_eq!(masters, [best], "round {round}"),
            }
            for i in 0..3 {
                let want = if !healthy.contains(&i) {
                    State::Fault
                } else if masters == [i] {
                    State::Master
                } else {
                    State::Backup
                };
                assert_eq!(net.nodes[i].state(), want, "round {round} node {i}");
            }
        }
        // The runs did exercise elections, and mostly with healthy nodes.
        assert!(handovers > 300, "{handovers}");
        assert!(empty < 15, "{empty}");
    }

    #[test]
    fn tracking_moves_mastership() {
        // The seed's setup: 103 and 102, weight -2 on the master's check.
        let mut net = Net::new(vec![
            node(Version::V2, 103, "10.0.2.11"),
            node(Version::V2, 102, "10.0.2.12"),
        ]);
        net.run_to(ms(10_000));
        assert_eq!(net.masters(), [0]);
        net.deliver(0, Event::PriorityChanged(101));
        net.run_to(ms(20_000));
        assert_eq!(net.masters(), [1]);
        // Recovery: 103 > 102 again and it preempts.
        net.deliver(0, Event::PriorityChanged(103));
        net.run_to(ms(30_000));
        assert_eq!(net.masters(), [0]);
    }
}

#[cfg(test)]
mod reconfigure_tests {
    use super::*;

    fn cfg(priority: u8) -> Config {
        Config {
            name: "vif1".into(),
            interface: "eth0".into(),
            vrid: 51,
            priority,
            primary_addr: "10.0.2.11".parse().unwrap(),
            ..Config::default()
        }
    }

    fn started(priority: u8) -> Machine {
        let mut m = Machine::new(cfg(priority));
        m.handle(Event::Startup, Duration::ZERO);
        m
    }

    #[test]
    fn identity_change_is_refused() {
        let mut m = started(100);
        let mut c = cfg(100);
        c.vrid = 52;
        assert!(m.reconfigure(c, Duration::ZERO).is_none());
        let mut c = cfg(100);
        c.version = Version::V3;
        assert!(m.reconfigure(c, Duration::ZERO).is_none());
        assert_eq!(m.config().vrid, 51);
    }

    #[test]
    fn unchanged_config_does_nothing() {
        let mut m = started(100);
        let d = m.next_deadline();
        assert_eq!(
            m.reconfigure(cfg(100), Duration::from_secs(1)),
            Some(vec![])
        );
        assert_eq!(m.next_deadline(), d);
        assert_eq!(m.state(), State::Backup);
    }

    #[test]
    fn base_priority_change_keeps_weights() {
        let mut m = started(100);
        m.handle(Event::PriorityChanged(98), Duration::ZERO);
        let out = m.reconfigure(cfg(110), Duration::ZERO).unwrap();
        assert_eq!(
            out,
            [Action::Log {
                level: Level::Info,
                msg: "(vif1) Changing effective priority from 98 to 108".into()
            }]
        );
        assert_eq!(m.base_priority(), 110);
        assert_eq!(m.priority(), 108);
    }

    #[test]
    fn becoming_owner_takes_over() {
        let mut m = started(100);
        let out = m.reconfigure(cfg(255), Duration::from_secs(1)).unwrap();
        assert!(out.contains(&Action::AddVips));
        assert_eq!(m.state(), State::Master);
        assert_eq!(m.priority(), 255);
        // And back: master keeps its state at the new priority.
        let out = m.reconfigure(cfg(100), Duration::from_secs(2)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(m.state(), State::Master);
        assert_eq!(m.priority(), 100);
    }

    #[test]
    fn master_interval_change_reschedules() {
        let mut m = started(255);
        assert_eq!(m.state(), State::Master);
        let mut c = cfg(255);
        c.adver_int = Duration::from_secs(3);
        m.reconfigure(c, Duration::from_millis(500)).unwrap();
        assert_eq!(m.next_deadline(), Some(Duration::from_millis(3500)));
        assert_eq!(m.master_adver_int(), Duration::from_secs(3));
    }

    #[test]
    fn foreign_adverts_are_ignored() {
        let mut m = started(100);
        let d = m.next_deadline();
        let advert = Advert {
            version: Version::V2,
            vrid: 52,
            priority: 200,
            interval_cs: 100,
            auth: crate::packet::Auth::None,
            addrs: vec![],
        };
        let from: IpAddr = "10.0.2.5".parse().unwrap();
        assert!(m
            .handle(
                Event::Advert {
                    from,
                    advert: advert.clone()
                },
                Duration::from_secs(1)
            )
            .is_empty());
        let v3 = Advert {
            version: Version::V3,
            vrid: 51,
            ..advert
        };
        assert!(m
            .handle(Event::Advert { from, advert: v3 }, Duration::from_secs(1))
            .is_empty());
        assert_eq!(m.next_deadline(), d);
    }
}

/// Replays the event sequence of a session with real keepalived 2.2.7
/// (`-n -l -D`, v2, priority 102, weight -2 script, peer 10.0.2.5 injecting
/// adverts with a raw socket, link toggled, SIGTERM at the end; run in a
/// network namespace) and compares our log lines with what keepalived
/// logged. Lines the shell logs (`VRRP_Script(..)`, `Netlink reports ..`)
/// are left out, and so are the `Sending/queueing` GARP lines, whose
/// placement depends on keepalived timer threads that outlive a
/// mastership (tested separately above).
#[cfg(test)]
mod keepalived_replay {
    use super::*;
    use crate::packet::Auth;

    const KEEPALIVED_LOG: &str = "\
(vif1) removing VIPs.
(vif1) Entering BACKUP STATE (init)
(vif1) Receive advertisement timeout
(vif1) Entering MASTER STATE
(vif1) setting VIPs.
(vif1) Received advert from 10.0.2.5 with lower priority 101, ours 102, forcing new election
(vif1) Master received advert from 10.0.2.5 with higher priority 103, ours 102
(vif1) Entering BACKUP STATE
(vif1) removing VIPs.
(vif1) received lower priority (101) advert from 10.0.2.5 - discarding
(vif1) Receive advertisement timeout
(vif1) Entering MASTER STATE
(vif1) setting VIPs.
(vif1) Master received priority 0 message
(vif1) Received advert from 10.0.2.5 with lower priority 102, ours 102, forcing new election
(vif1) Changing effective priority from 102 to 100
(vif1) Received advert from 10.0.2.5 with lower priority 100, ours 100, forcing new election
(vif1) Master received advert from 10.0.2.5 with higher priority 101, ours 100
(vif1) Entering BACKUP STATE
(vif1) removing VIPs.
(vif1) Changing effective priority from 100 to 102
(vif1) Backup received priority 0 advertisement
(vif1) Receive advertisement timeout
(vif1) Entering MASTER STATE
(vif1) setting VIPs.
(vif1) Entering FAULT STATE
(vif1) sent 0 priority
(vif1) removing VIPs.
(vif1) Entering BACKUP STATE
(vif1) Receive advertisement timeout
(vif1) Entering MASTER STATE
(vif1) setting VIPs.
(vif1) Changing effective priority from 102 to 100
(vif1) sent 0 priority
(vif1) removing VIPs.
";

    #[test]
    fn same_log_lines_as_keepalived() {
        let cfg = Config {
            name: "vif1".into(),
            interface: "veth0".into(),
            vrid: 51,
            priority: 102,
            primary_addr: "10.0.2.11".parse().unwrap(),
            vips: vec![Vip {
                addr: "10.0.2.100".parse().unwrap(),
                dev: "veth0".into(),
            }],
            ..Config::default()
        };
        let mut m = Machine::new(cfg);
        let mut log = Vec::new();
        let mut now = Duration::ZERO;
        let rx = |p: u8| Event::Advert {
            from: "10.0.2.5".parse().unwrap(),
            advert: Advert {
                version: Version::V2,
                vrid: 51,
                priority: p,
                interval_cs: 100,
                auth: Auth::None,
                addrs: vec!["10.0.2.100".parse().unwrap()],
            },
        };
        let script: Vec<(u64, Event)> = vec![
            (0, Event::Startup),
            (5000, rx(101)),
            (6000, rx(103)),
            (7000, rx(101)),
            (11_000, rx(0)),
            (12_000, rx(102)),
            (13_000, Event::PriorityChanged(100)),
            (15_000, rx(100)),
            (16_000, rx(101)),
            (17_000, Event::PriorityChanged(102)),
            (19_000, rx(0)),
            (21_000, Event::InterfaceDown),
            (24_000, Event::InterfaceUp),
            (29_000, Event::PriorityChanged(100)),
            (31_000, Event::Shutdown),
        ];
        let record = |acts: Vec<Action>, log: &mut Vec<String>| {
            for a in acts {
                if let Action::Log { msg, .. } = a {
                    if !msg.contains("Sending/queueing") {
                        log.push(msg);
                    }
                }
            }
        };
        for (at, ev) in script {
            let at = Duration::from_millis(at);
            while let Some(d) = m.next_deadline().filter(|d| *d <= at) {
                now = d;
                record(m.handle(Event::Timer, now), &mut log);
            }
            now = now.max(at);
            record(m.handle(ev, now), &mut log);
        }
        let expected: Vec<&str> = KEEPALIVED_LOG.lines().collect();
        assert_eq!(log, expected);
    }
}
