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

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::{Advert, Version};

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
    /// Backup: end of the running preempt delay.
    preempt_until: Option<Time>,
    link_up: bool,
    tracker_fault: bool,
    master_addr: Option<IpAddr>,
    master_priority: u8,
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
            preempt_until: None,
            link_up: true,
            tracker_fault: false,
            master_addr: None,
            master_priority: 0,
            cfg,
        }
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

    /// Whether a fault condition (link down or tracker) holds.
    pub fn faulted(&self) -> bool {
        !self.link_up || self.tracker_fault
    }

    /// When [`Event::Timer`] must be delivered next (None = no timer).
    pub fn next_deadline(&self) -> Option<Time> {
        [self.timer, self.garp_delay_at, self.garp_refresh_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Process one event at virtual time `now`.
    pub fn handle(&mut self, event: Event, now: Time) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Stopped {
            return out;
        }
        match event {
            Event::Startup => self.on_startup(now, &mut out),
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
        self.timer = None;
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
        self.preempt_until = None;
    }

    fn on_startup(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.state != State::Init {
            return;
        }
        self.master_adver_int = self.cfg.adver_int;
        if self.faulted() {
            self.state = State::Fault;
            self.clear_timers();
            self.log(out, Level::Info, "Entering FAULT STATE (init)".into());
            self.notify(out);
        } else if self.base_priority == PRIO_OWNER {
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
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
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
            self.leave_master(State::Backup, now, out);
        }
    }

    fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        match self.state {
            State::Backup if self.timer.is_some_and(|t| t <= now) => {
                self.log(out, Level::Debug, "Receive advertisement timeout".into());
                self.become_master(now, out);
            }
            State::Master => {
                if self.garp_delay_at.is_some_and(|t| t <= now) {
                    self.garp_delay_at = None;
                    self.send_garps(out, self.cfg.garp_master_repeat);
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
