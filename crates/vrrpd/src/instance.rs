//! The per-instance driver: one task owning the pure state machine
//! ([`crate::fsm::Machine`]), the instance's sockets and its timer; it turns
//! packets, link events and tracker changes into machine events and executes
//! the machine's actions (adverts, VIPs, gratuitous ARPs, notify scripts,
//! log lines).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{self, Family, Instance};
use crate::fsm::{self, Action, Event, Level, Machine, State};
use crate::garp::Announcer;
use crate::netlink::{LinkEvent, Netlink};
use crate::packet::{self, Advert, Expect, Options, Version};
use crate::script::{Health, Program};
use crate::socket::{SocketSpec, VrrpSocket};

/// Receive counters and other statistics of one instance.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    pub send_errors: u64,
    /// Dropped packets by reason ([`DecodeError::kind`]).
    pub invalid: BTreeMap<String, u64>,
    /// Packets for other VRIDs on the same interface (not errors).
    pub other_vrid: u64,
}

/// A snapshot of an instance for the dumps: the machine's view (as
/// [`fsm::Snapshot`] has it, in keepalived's words) plus the shell's
/// (addresses, VIPs, trackers, counters). The machine's own
/// [`fsm::Snapshot`] is not repeated in it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub source: Option<String>,
    pub master: Option<String>,
    pub master_priority: Option<u8>,
    pub advert_int_ms: u64,
    pub master_down_interval_ms: u64,
    pub vips: Vec<String>,
    pub vips_present: bool,
    pub trackers: Vec<String>,
    pub stats: Stats,
}

/// One tracked object as seen by an instance: its current "ok" status
/// (None = no result yet) and the weight/reverse that apply.
#[derive(Clone)]
pub struct Tracked {
    pub label: String,
    pub weight: i32,
    pub reverse: bool,
    pub source: TrackSource,
}

#[derive(Clone)]
pub enum TrackSource {
    Script(watch::Receiver<Health>),
    Process {
        rx: watch::Receiver<usize>,
        quorum: usize,
        quorum_max: usize,
    },
}

impl Tracked {
    fn ok(&self) -> Option<bool> {
        match &self.source {
            TrackSource::Script(rx) => match *rx.borrow() {
                Health::Init => None,
                Health::Good => Some(true),
                Health::Bad => Some(false),
            },
            TrackSource::Process {
                rx,
                quorum,
                quorum_max,
            } => {
                let c = *rx.borrow();
                Some(c >= *quorum && c <= *quorum_max)
            }
        }
    }

    fn closed(&self) -> bool {
        match &self.source {
            TrackSource::Script(rx) => rx.has_changed().is_err(),
            TrackSource::Process { rx, .. } => rx.has_changed().is_err(),
        }
    }

    async fn changed(&mut self) -> bool {
        match &mut self.source {
            TrackSource::Script(rx) => rx.changed().await.is_ok(),
            TrackSource::Process { rx, .. } => rx.changed().await.is_ok(),
        }
    }
}

pub use crate::fsm::sync::contribution;

/// The shared state of a `vrrp_sync_group`: the pure reducer
/// ([`fsm::sync::Group`]) every member reports to; a change wakes the
/// others, which then follow it.
pub type GroupFaults = Arc<watch::Sender<fsm::sync::Group>>;

/// Membership of an instance in a sync group.
#[derive(Clone)]
pub struct GroupLink {
    pub name: String,
    pub faults: GroupFaults,
    /// The group's definition (members, notify scripts).
    pub cfg: Arc<config::SyncGroup>,
}

/// Requests from the daemon to a running instance.
#[derive(Debug)]
pub enum Command {
    /// Apply a changed configuration in place (see [`can_reconfigure`]).
    Reconfigure(Box<Instance>),
}

/// Can `new` replace `old` without restarting the instance? Identity,
/// addressing and tracking must stay the same; priority, timers, preempt,
/// auth, notify scripts, GARP settings and the VIP list may change.
pub fn can_reconfigure(old: &Instance, new: &Instance) -> bool {
    let devs = |i: &Instance| {
        let mut d: Vec<Option<String>> = i
            .vips
            .iter()
            .chain(i.vips_excluded.iter())
            .map(|v| v.dev.clone().filter(|d| *d != i.interface))
            .collect();
        d.sort();
        d.dedup();
        d
    };
    old.interface == new.interface
        && old.vrid == new.vrid
        && old.version == new.version
        && old.family == new.family
        && old.unicast_src_ip == new.unicast_src_ip
        && old.unicast_peers == new.unicast_peers
        && old.track_scripts == new.track_scripts
        && old.track_processes == new.track_processes
        && old.track_interfaces == new.track_interfaces
        && old.dont_track_primary == new.dont_track_primary
        && old.v3_checksum_as_v2 == new.v3_checksum_as_v2
        && devs(old) == devs(new)
}

/// Everything an instance task needs.
pub struct InstanceCtx {
    pub commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    pub group: Option<GroupLink>,
    pub cfg: Instance,
    pub global: config::GlobalDefs,
    pub script_user: Option<(u32, u32)>,
    pub trackers: Vec<Tracked>,
    pub links: broadcast::Receiver<LinkEvent>,
    pub netlink: Netlink,
    pub cancel: CancellationToken,
    pub status: watch::Sender<Status>,
    pub tasks: common::TaskTracker,
    /// The process's notify FIFOs.
    pub fifos: std::sync::Arc<crate::fifo::Fifos>,
}

/// Initial status (before the task runs).
pub fn initial_status(cfg: &Instance) -> Status {
    Status {
        name: cfg.name.clone(),
        interface: cfg.interface.clone(),
        vrid: cfg.vrid,
        version: cfg.version,
        state: "INIT".into(),
        base_priority: cfg.priority,
        effective_priority: cfg.priority,
        source: None,
        master: None,
        master_priority: None,
        advert_int_ms: cfg.advert_int.as_millis() as u64,
        master_down_interval_ms: 0,
        vips: cfg
            .vips
            .iter()
            .map(|v| format!("{}/{}", v.addr, v.prefix))
            .collect(),
        vips_present: false,
        trackers: Vec::new(),
        stats: Stats::default(),
    }
}

/// Run the instance until cancelled (then: priority 0 if master, VIPs
/// removed). Never panics on bad input; errors are logged.
pub async fn run(ctx: InstanceCtx) {
    let span = tracing::info_span!("vrrp", vrid = ctx.cfg.vrid, iface = %ctx.cfg.interface);
    Driver::start(ctx).instrument(span).await;
}

struct Link {
    index: u32,
    mac: Vec<u8>,
}

struct Driver {
    ctx: InstanceCtx,
    machine: Machine,
    sock: Arc<VrrpSocket>,
    /// Gratuitous ARP / NA senders by interface index (with its name).
    announcers: BTreeMap<u32, (String, Arc<Announcer>)>,
    link: Link,
    src: IpAddr,
    epoch: Instant,
    stats: Stats,
    opts: Options,
    /// Interface index per VIP (`dev` or the instance's interface).
    vip_ifindex: Vec<(config::Vip, u32)>,
    vips_present: bool,
    last_invalid_log: Option<Instant>,
    last_recv_error_log: Option<Instant>,
    primary_up: bool,
    /// The interface was deleted and has come back: the socket must be
    /// re-opened on the new ifindex (retried until it works).
    reopen_pending: bool,
    tracker_fault: bool,
    tracked_if_down: BTreeMap<String, bool>,
}

fn level_log(level: Level, msg: &str) {
    match level {
        Level::Warn => tracing::warn!("{msg}"),
        Level::Info => tracing::info!("{msg}"),
        Level::Debug => tracing::debug!("{msg}"),
    }
}

impl Driver {
    async fn start(mut ctx: InstanceCtx) {
        let name = ctx.cfg.name.clone();
        // Wait for the interface and a source address; the instance stays
        // in INIT meanwhile.
        let mut warned = false;
        let (link, src) = loop {
            match Self::resolve(&ctx).await {
                Ok(x) => break x,
                Err(e) => {
                    if !warned {
                        tracing::error!("({name}) cannot start yet: {e}");
                        warned = true;
                    }
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = ctx.links.recv() => {}
                    }
                }
            }
        };
        let (linfo, vip_ifindex) = link;
        let spec = SocketSpec {
            ifname: ctx.cfg.interface.clone(),
            ifindex: linfo.index,
            src,
            unicast: !ctx.cfg.unicast_peers.is_empty(),
            group: match src {
                IpAddr::V4(_) => ctx.global.vrrp_mcast_group4.into(),
                IpAddr::V6(_) => ctx.global.vrrp_mcast_group6.into(),
            },
        };
        // The source may still be tentative (IPv6 DAD): retry until it binds.
        let mut warned = false;
        let sock = loop {
            match VrrpSocket::open(spec.clone()) {
                Ok(s) => break Arc::new(s),
                Err(e) => {
                    if !warned {
                        tracing::error!(
                            "({name}) cannot open VRRP socket on {}: {e}",
                            ctx.cfg.interface
                        );
                        warned = true;
                    }
                    tokio::select! {
                        _ = ctx.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        };
        let announcers = Self::announcers(&ctx, &linfo, &vip_ifindex).await;
        let machine = Machine::new(Self::fsm_config(&ctx.cfg, src, ctx.group.is_some()));
        let mut tracked_if_down = BTreeMap::new();
        for t in &ctx.cfg.track_interfaces {
            let down = match ctx.netlink.link_by_name(&t.name).await {
                Ok(l) => !l.is_up(),
                Err(_) => true,
            };
            tracked_if_down.insert(t.name.clone(), down);
        }
        let opts = Options {
            v3_checksum_as_v2: ctx.cfg.v3_checksum_as_v2,
        };
        let mut d = Driver {
            machine,
            sock,
            announcers,
            primary_up: linfo.is_up(),
            reopen_pending: false,
            tracker_fault: false,
            link: Link {
                index: linfo.index,
                mac: linfo.mac.clone(),
            },
            src,
            epoch: Instant::now(),
            stats: Stats::default(),
            opts,
            vip_ifindex,
            vips_present: false,
            last_invalid_log: None,
            last_recv_error_log: None,
            tracked_if_down,
            ctx,
        };
        d.main().await;
    }

    /// One announcer per interface carrying VIPs (`dev` may differ).
    async fn announcers(
        ctx: &InstanceCtx,
        linfo: &crate::netlink::LinkInfo,
        vip_ifindex: &[(config::Vip, u32)],
    ) -> BTreeMap<u32, (String, Arc<Announcer>)> {
        let name = &ctx.cfg.name;
        let mut announcers = BTreeMap::new();
        let mut ifs: Vec<u32> = vip_ifindex.iter().map(|(_, i)| *i).collect();
        ifs.sort_unstable();
        ifs.dedup();
        for idx in ifs {
            let l = if idx == linfo.index {
                Ok(linfo.clone())
            } else {
                ctx.netlink.link_by_index(idx).await
            };
            match l.map_err(|e| e.to_string()).and_then(|l| {
                Announcer::new(&l.name, l.index, &l.mac)
                    .map(|a| (l.name.clone(), a))
                    .map_err(|e| e.to_string())
            }) {
                Ok((n, a)) => {
                    announcers.insert(idx, (n, Arc::new(a)));
                }
                Err(e) => tracing::warn!("({name}) cannot open gratuitous ARP socket: {e}"),
            }
        }
        announcers
    }

    /// The instance's interface was deleted and created again (a new
    /// ifindex): resolve it again and re-open the socket and the GARP
    /// senders on it. Returns false when it cannot yet (no address, socket
    /// error): the caller retries.
    async fn reopen(&mut self) -> bool {
        let name = self.ctx.cfg.name.clone();
        let ((linfo, vip_ifindex), src) = match Self::resolve(&self.ctx).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("({name}) cannot re-open yet: {e}");
                return false;
            }
        };
        let spec = SocketSpec {
            ifname: self.ctx.cfg.interface.clone(),
            ifindex: linfo.index,
            src,
            unicast: !self.ctx.cfg.unicast_peers.is_empty(),
            group: self.sock.group(),
        };
        let sock = match VrrpSocket::open(spec) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::debug!("({name}) cannot re-open the VRRP socket yet: {e}");
                return false;
            }
        };
        tracing::info!(
            "({name}) VRRP socket re-opened on {} (index {}, source {src})",
            linfo.name,
            linfo.index
        );
        // Leftover VIPs were on the deleted interface: gone with it.
        self.announcers = Self::announcers(&self.ctx, &linfo, &vip_ifindex).await;
        self.sock = sock;
        self.vip_ifindex = vip_ifindex;
        self.link = Link {
            index: linfo.index,
            mac: linfo.mac.clone(),
        };
        if src != self.src {
            self.src = src;
            let fcfg = Self::fsm_config(&self.ctx.cfg, src, self.ctx.group.is_some());
            let now = self.now();
            if let Some(actions) = self.machine.reconfigure(fcfg, now) {
                for a in actions {
                    self.execute(a).await;
                }
            }
        }
        let up = linfo.is_up();
        if up != self.primary_up {
            self.primary_up = up;
            if !self.ctx.cfg.dont_track_primary {
                let e = if up {
                    Event::InterfaceUp
                } else {
                    Event::InterfaceDown
                };
                self.event(e).await;
                self.apply_tracking().await;
            }
        }
        self.publish();
        true
    }

    /// Interface, VIP interfaces and source address.
    async fn resolve(
        ctx: &InstanceCtx,
    ) -> Result<((crate::netlink::LinkInfo, Vec<(config::Vip, u32)>), IpAddr), String> {
        let nl = &ctx.netlink;
        let link = nl
            .link_by_name(&ctx.cfg.interface)
            .await
            .map_err(|e| e.to_string())?;
        let mut vips = Vec::new();
        for v in ctx.cfg.vips.iter().chain(ctx.cfg.vips_excluded.iter()) {
            let idx = match &v.dev {
                Some(d) if d != &ctx.cfg.interface => {
                    nl.link_by_name(d).await.map_err(|e| e.to_string())?.index
                }
                _ => link.index,
            };
            vips.push((v.clone(), idx));
        }
        let src = match (ctx.cfg.unicast_src_ip, ctx.cfg.family) {
            (Some(a), _) => a,
            (None, Family::V4) => {
                let exclude: Vec<IpAddr> = vips.iter().map(|(v, _)| v.addr).collect();
                nl.primary_ipv4(link.index, &exclude)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no IPv4 address on {}", ctx.cfg.interface))?
                    .into()
            }
            (None, Family::V6) => nl
                .link_local_ipv6(link.index)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no IPv6 link-local address on {}", ctx.cfg.interface))?
                .into(),
        };
        Ok(((link, vips), src))
    }

    fn fsm_config(cfg: &Instance, src: IpAddr, sync_group: bool) -> fsm::Config {
        let vips = cfg
            .vips
            .iter()
            .chain(cfg.vips_excluded.iter())
            .map(|v| fsm::Vip {
                addr: v.addr,
                dev: v.dev.clone().unwrap_or_else(|| cfg.interface.clone()),
            })
            .collect();
        fsm::Config {
            name: cfg.name.clone(),
            interface: cfg.interface.clone(),
            version: if cfg.version == 3 {
                Version::V3
            } else {
                Version::V2
            },
            vrid: cfg.vrid,
            priority: cfg.priority,
            adver_int: cfg.advert_int,
            preempt: !cfg.nopreempt,
            preempt_delay: cfg.preempt_delay.unwrap_or(Duration::ZERO),
            primary_addr: src,
            vips,
            garp_master_delay: cfg.garp_master_delay,
            garp_master_repeat: cfg.garp_master_repeat,
            garp_master_refresh: cfg.garp_master_refresh,
            garp_master_refresh_repeat: cfg.garp_master_refresh_repeat,
            down_timer_adverts: 3,
            sync_group,
            garp_lower_prio_repeat: cfg.garp_lower_prio_repeat,
            garp_lower_prio_delay: cfg.garp_lower_prio_delay,
            lower_prio_no_advert: cfg.lower_prio_no_advert,
            higher_prio_send_advert: cfg.higher_prio_send_advert,
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn advert(&self, priority: u8) -> Advert {
        let cfg = &self.ctx.cfg;
        let version = self.machine.config().version;
        let auth = match (&cfg.auth, version) {
            (Some(config::Auth::Pass(p)), Version::V2) => packet::Auth::pass(p.as_bytes()),
            _ => packet::Auth::None,
        };
        let cs = (cfg.advert_int.as_millis() / 10) as u16;
        Advert {
            version,
            vrid: cfg.vrid,
            priority,
            interval_cs: cs.max(1),
            auth,
            addrs: self.advert_addrs(),
        }
    }

    fn advert_addrs(&self) -> Vec<IpAddr> {
        let v6 = self.src.is_ipv6();
        self.ctx
            .cfg
            .vips
            .iter()
            .map(|v| v.addr)
            .filter(|a| a.is_ipv6() == v6)
            .collect()
    }

    fn expect(&self, from: IpAddr) -> Expect {
        let known_master = self.machine.master().map(|(a, _)| a) == Some(from);
        Expect {
            version: self.machine.config().version,
            vrid: self.ctx.cfg.vrid,
            auth: self.advert(0).auth,
            interval_cs: (self.ctx.cfg.advert_int.as_millis() / 10) as u16,
            vips: self.advert_addrs(),
            check_vips: !(self.ctx.global.vrrp_skip_check_adv_addr && known_master),
            unicast: !self.ctx.cfg.unicast_peers.is_empty(),
        }
    }

    fn destinations(&self) -> Vec<IpAddr> {
        if self.ctx.cfg.unicast_peers.is_empty() {
            vec![self.sock.group()]
        } else {
            self.ctx.cfg.unicast_peers.clone()
        }
    }

    /// Sum of weights and fault flag over every tracked object.
    fn tracking(&self) -> (i32, bool) {
        let scripts = self.ctx.trackers.iter().map(|t| fsm::sync::Tracked {
            weight: t.weight,
            reverse: t.reverse,
            ok: t.ok(),
        });
        let ifaces = self.ctx.cfg.track_interfaces.iter().map(|t| {
            let down = self.tracked_if_down.get(&t.name).copied().unwrap_or(false);
            fsm::sync::Tracked {
                weight: t.weight.unwrap_or(0),
                reverse: t.reverse,
                ok: Some(!down),
            }
        });
        fsm::sync::tracking(scripts.chain(ifaces))
    }

    fn link_down(&self) -> bool {
        !self.primary_up && !self.ctx.cfg.dont_track_primary
    }

    /// Publish our own fault condition to the sync group; true when another
    /// member is faulted.
    fn sync_group(&mut self, own: bool) -> bool {
        let Some(g) = &self.ctx.group else {
            return false;
        };
        let me = &self.ctx.cfg.name;
        g.faults.send_if_modified(|s| s.set_fault(me, own));
        let other = g.faults.borrow().other_fault(me);
        other
    }

    /// Sync group: may our down timer make us MASTER?
    fn sync_may_master(&self) -> bool {
        let Some(g) = &self.ctx.group else {
            return true;
        };
        let may = g.faults.borrow().may_master(&self.ctx.cfg.name);
        may
    }

    /// Sync group: report our state after an event; if we moved the group
    /// to a new state, log it and run the group's notify scripts. Returns
    /// the event the group forces on us, if any.
    fn sync_publish(&mut self, before: State) -> Option<Event> {
        let g = self.ctx.group.clone()?;
        let me = self.ctx.cfg.name.clone();
        let after = self.machine.state();
        let want = self.machine.wants_master();
        let mut outcome = fsm::sync::Outcome::default();
        g.faults.send_if_modified(|s| {
            let old = (s.state(), s.member(&me).cloned());
            outcome = s.report(&me, before, after, want);
            (s.state(), s.member(&me).cloned()) != old
        });
        if let Some(st) = outcome.entered {
            if st != State::Stopped {
                tracing::info!(
                    "VRRP_Group({}) Syncing instances to {} state",
                    g.name,
                    st.keepalived_name()
                );
            }
            self.group_notify(&g.cfg, st);
        }
        outcome.for_member(&me)
    }

    /// Sync group: the event that brings us in line with the group.
    fn sync_follow(&self) -> Option<Event> {
        let g = self.ctx.group.as_ref()?;
        let e = g.faults.borrow().follow(&self.ctx.cfg.name);
        e
    }

    /// The group's `notify_*` and `notify GROUP name STATE` scripts.
    fn group_notify(&self, g: &config::SyncGroup, state: State) {
        let scripts = [
            &g.notify_master,
            &g.notify_backup,
            &g.notify_fault,
            &g.notify_stop,
        ];
        self.announce("GROUP", &g.name, state, None, scripts, g.notify.as_ref());
    }

    async fn apply_tracking(&mut self) {
        let (w, own) = self.tracking();
        let own_all = own || self.link_down();
        let group = self.sync_group(own_all);
        let fault = own || group;
        let prio = fsm::effective_priority(self.machine.base_priority(), w);
        if prio != self.machine.priority() {
            self.event(Event::PriorityChanged(prio)).await;
        }
        if fault != self.tracker_fault {
            // The machine keeps link and tracker faults apart.
            self.tracker_fault = fault;
            self.event(Event::Fault(fault)).await;
        }
    }

    async fn main(&mut self) {
        let name = self.ctx.cfg.name.clone();
        tracing::debug!("({name}) source {} ifindex {}", self.src, self.link.index);
        if self.link_down() {
            self.event(Event::InterfaceDown).await;
        }
        // Initial tracking state (scripts may have no result yet).
        let (w, own) = self.tracking();
        let own_all = own || self.link_down();
        let group = self.sync_group(own_all);
        let fault = own || group;
        let prio = fsm::effective_priority(self.machine.base_priority(), w);
        if prio != self.machine.priority() {
            self.event(Event::PriorityChanged(prio)).await;
        }
        if fault {
            self.tracker_fault = true;
            self.event(Event::Fault(true)).await;
        }
        self.event(Event::Startup).await;

        let mut trackers = self.ctx.trackers.clone();
        let mut group_rx = self.ctx.group.as_ref().map(|g| g.faults.subscribe());
        let mut links_open = true;
        loop {
            let links = &mut self.ctx.links;
            let links_recv = async {
                if links_open {
                    links.recv().await
                } else {
                    std::future::pending().await
                }
            };
            let group_changed = async {
                match &mut group_rx {
                    Some(rx) => {
                        if rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let deadline = self
                .machine
                .next_deadline()
                .map(|d| self.epoch + d)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let tracker_changed = async {
                if trackers.is_empty() {
                    std::future::pending::<usize>().await
                } else {
                    let futs = trackers
                        .iter_mut()
                        .enumerate()
                        .map(|(i, t)| Box::pin(async move { (i, t.changed().await) }));
                    let ((i, alive), _, _) = futures::future::select_all(futs).await;
                    if alive {
                        i
                    } else {
                        // A tracker ended (reload/shutdown): stop watching it.
                        usize::MAX
                    }
                }
            };
            let sock = self.sock.clone();
            let retry = async {
                if self.reopen_pending {
                    tokio::time::sleep(Duration::from_millis(500)).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                biased;
                _ = self.ctx.cancel.cancelled() => break,
                _ = retry => {
                    if self.reopen().await {
                        self.reopen_pending = false;
                    }
                }
                // The timer before packets: a flood must not starve adverts.
                _ = tokio::time::sleep_until(deadline) => {
                    self.event(Event::Timer).await;
                }
                ev = links_recv => match ev {
                    Ok(ev) => self.on_link(ev).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.resync_links().await,
                    Err(broadcast::error::RecvError::Closed) => links_open = false,
                },
                _ = group_changed => {
                    self.apply_tracking().await;
                    if let Some(e) = self.sync_follow() {
                        self.event(e).await;
                    }
                }
                Some(cmd) = self.ctx.commands.recv() => match cmd {
                    Command::Reconfigure(new) => self.reconfigure(*new).await,
                },
                i = tracker_changed => {
                    if i == usize::MAX {
                        trackers.retain(|t| !t.closed());
                    }
                    self.apply_tracking().await;
                }
                r = sock.recv() => self.on_packet(r).await,
            }
        }
        self.event(Event::Shutdown).await;
        if let Some(g) = &self.ctx.group {
            let me = self.ctx.cfg.name.clone();
            g.faults.send_if_modified(|s| s.leave(&me));
        }
        // Whatever the state, no VIP stays behind.
        if self.vips_present {
            self.remove_vips().await;
        }
        self.publish();
    }

    /// Apply a changed configuration, keeping the state and, if master,
    /// the VIPs that stay (only the difference is added / removed).
    async fn reconfigure(&mut self, new: Instance) {
        let name = new.name.clone();
        let fcfg = Self::fsm_config(&new, self.src, self.ctx.group.is_some());
        let now = self.now();
        let Some(actions) = self.machine.reconfigure(fcfg, now) else {
            tracing::warn!("({name}) cannot apply the new configuration in place");
            return;
        };
        tracing::info!("({name}) configuration changed, applied in place");
        let old = self.vip_ifindex.clone();
        let idx_of = |v: &config::Vip| -> u32 {
            match &v.dev {
                Some(d) if *d != new.interface => old
                    .iter()
                    .find(|(o, _)| o.dev.as_deref() == Some(d.as_str()))
                    .map_or(self.link.index, |(_, i)| *i),
                _ => self.link.index,
            }
        };
        let vips: Vec<(config::Vip, u32)> = new
            .vips
            .iter()
            .chain(new.vips_excluded.iter())
            .map(|v| (v.clone(), idx_of(v)))
            .collect();
        if self.vips_present {
            for (v, idx) in old.iter().filter(|o| !vips.contains(o)) {
                if let Err(e) = self.ctx.netlink.del_address(*idx, v.addr, v.prefix).await {
                    tracing::error!("({name}) cannot remove {}/{}: {e}", v.addr, v.prefix);
                }
            }
            for (v, idx) in vips.iter().filter(|n| !old.contains(n)) {
                let label = v.label.as_deref();
                if let Err(e) = self
                    .ctx
                    .netlink
                    .add_address(*idx, v.addr, v.prefix, label)
                    .await
                {
                    tracing::error!("({name}) cannot add {}/{}: {e}", v.addr, v.prefix);
                }
            }
        }
        self.vip_ifindex = vips;
        self.ctx.cfg = new;
        for a in actions {
            self.execute(a).await;
        }
        self.apply_tracking().await;
        self.publish();
    }

    async fn resync_links(&mut self) {
        match self.ctx.netlink.link_by_name(&self.ctx.cfg.interface).await {
            Ok(l) => {
                self.on_link(LinkEvent {
                    link: l,
                    deleted: false,
                    address: false,
                })
                .await
            }
            Err(crate::netlink::NetlinkError::NoSuchInterface(_)) => {
                if let Ok(l) = self.ctx.netlink.link_by_index(self.link.index).await {
                    // Renamed away: as good as deleted for us.
                    self.on_link(LinkEvent {
                        link: l,
                        deleted: true,
                        address: false,
                    })
                    .await;
                }
            }
            Err(_) => {}
        }
    }

    /// An address of our interface changed: if our source address (the
    /// primary address) is not the primary any more, re-open on the new one.
    async fn on_address(&mut self) {
        if self.ctx.cfg.unicast_src_ip.is_some() || self.reopen_pending {
            return;
        }
        let nl = &self.ctx.netlink;
        let now = match self.src {
            IpAddr::V4(_) => {
                let exclude: Vec<IpAddr> = self.vip_ifindex.iter().map(|(v, _)| v.addr).collect();
                nl.primary_ipv4(self.link.index, &exclude)
                    .await
                    .map(|a| a.map(IpAddr::from))
            }
            IpAddr::V6(_) => nl
                .link_local_ipv6(self.link.index)
                .await
                .map(|a| a.map(IpAddr::from)),
        };
        match now {
            Ok(Some(a)) if a != self.src => {
                tracing::info!(
                    "({}) primary address of {} changed from {} to {a}",
                    self.ctx.cfg.name,
                    self.ctx.cfg.interface,
                    self.src
                );
                self.reopen_pending = !self.reopen().await;
            }
            Ok(None) => tracing::warn!(
                "({}) no usable address left on {}; still using {}",
                self.ctx.cfg.name,
                self.ctx.cfg.interface,
                self.src
            ),
            _ => {}
        }
    }

    async fn on_link(&mut self, ev: LinkEvent) {
        if ev.address {
            if ev.link.index == self.link.index {
                self.on_address().await;
            }
            return;
        }
        let up = !ev.deleted && ev.link.is_up();
        if !ev.deleted && ev.link.name == self.ctx.cfg.interface && ev.link.index != self.link.index
        {
            // Deleted and created again: a new ifindex.
            self.reopen_pending = !self.reopen().await;
        }
        if ev.link.index == self.link.index {
            if !ev.link.mac.is_empty() {
                self.link.mac = ev.link.mac.clone();
            }
            if up != self.primary_up {
                self.primary_up = up;
                if !self.ctx.cfg.dont_track_primary {
                    let e = if up {
                        Event::InterfaceUp
                    } else {
                        Event::InterfaceDown
                    };
                    self.event(e).await;
                    self.apply_tracking().await;
                }
            }
        }
        if let Some(down) = self.tracked_if_down.get_mut(&ev.link.name) {
            if *down == up {
                *down = !up;
                self.apply_tracking().await;
            }
        }
    }

    async fn on_packet(
        &mut self,
        r: std::io::Result<Result<crate::socket::Received, crate::socket::IpError>>,
    ) {
        let rcv = match r {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                self.invalid("ip_header", &e.to_string());
                return;
            }
            Err(e) => {
                // E.g. the interface vanished: do not spin, do not flood.
                *self
                    .stats
                    .invalid
                    .entry("receive_error".to_string())
                    .or_default() += 1;
                let now = Instant::now();
                if self
                    .last_recv_error_log
                    .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
                {
                    self.last_recv_error_log = Some(now);
                    tracing::warn!("({}) receive error: {e}", self.ctx.cfg.name);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
        };
        if rcv.src == self.src {
            return;
        }
        let advert = match packet::decode(&rcv.payload, rcv.src, rcv.dst, &self.opts) {
            Ok(a) => a,
            Err(e) => {
                self.invalid(e.kind(), &e.to_string());
                return;
            }
        };
        if advert.vrid != self.ctx.cfg.vrid {
            self.stats.other_vrid += 1;
            return;
        }
        let accepted = if self.ctx.cfg.unicast_peers.is_empty() {
            self.sock.group()
        } else {
            self.src
        };
        // An unspecified destination: the kernel gave no IPv6 pktinfo.
        let dest = if rcv.dst.is_unspecified() {
            Ok(())
        } else {
            packet::check_destination(rcv.dst, &[accepted])
        };
        if let Err(e) = dest {
            self.invalid(e.kind(), &e.to_string());
            return;
        }
        if !self.ctx.cfg.unicast_peers.is_empty()
            && self.ctx.global.vrrp_check_unicast_src
            && !self.ctx.cfg.unicast_peers.contains(&rcv.src)
        {
            self.invalid(
                "unknown_unicast_source",
                &format!("unicast advert from unknown peer {}", rcv.src),
            );
            return;
        }
        let exp = self.expect(rcv.src);
        if let Err(e) = packet::validate(&advert, Some(rcv.ttl), &exp) {
            self.invalid(e.kind(), &e.to_string());
            return;
        }
        self.stats.adverts_received += 1;
        if advert.priority == 0 {
            self.stats.priority_zero_received += 1;
        }
        self.event(Event::Advert {
            from: rcv.src,
            advert,
        })
        .await;
    }

    /// Count a dropped packet; log at most one line per second.
    fn invalid(&mut self, kind: &str, msg: &str) {
        *self.stats.invalid.entry(kind.to_string()).or_default() += 1;
        let now = Instant::now();
        if self
            .last_invalid_log
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_invalid_log = Some(now);
            tracing::info!("({}) {msg}", self.ctx.cfg.name);
        }
        self.publish();
    }

    async fn event(&mut self, e: Event) {
        let mut next = Some(e);
        let mut forced = false;
        // A sync group may answer with an event for us. A forced event
        // moves us to the group's state, where the group forces nothing
        // more; a forced event that changed nothing ends the exchange too.
        while let Some(e) = next.take() {
            let before = self.machine.state();
            let now = self.now();
            if self.ctx.group.is_some() {
                let may = self.sync_may_master();
                self.machine.set_sync_may_master(may);
            }
            let actions = self.machine.handle(e, now);
            for a in actions {
                self.execute(a).await;
            }
            let after = self.machine.state();
            if before != after {
                if after == State::Master {
                    self.stats.became_master += 1;
                } else if before == State::Master {
                    self.stats.released_master += 1;
                }
            }
            self.publish();
            let answer = self.sync_publish(before);
            if !(forced && before == after) {
                next = answer;
            }
            forced = true;
        }
    }

    async fn execute(&mut self, a: Action) {
        match a {
            Action::SendAdvert { priority } => self.send_advert(priority),
            Action::AddVips => self.add_vips().await,
            Action::RemoveVips => self.remove_vips().await,
            Action::SendGarp { repeat } => self.send_garp(repeat),
            Action::Notify { state, priority } => self.notify(state, priority),
            Action::Log { level, msg } => level_log(level, &msg),
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let adv = self.advert(priority);
        for dst in self.destinations() {
            match packet::encode(&adv, self.src, dst, &self.opts) {
                Ok(buf) => match self.sock.send_to(&buf, dst) {
                    Ok(()) => {
                        self.stats.adverts_sent += 1;
                        if priority == 0 {
                            self.stats.priority_zero_sent += 1;
                        }
                    }
                    Err(e) => {
                        self.stats.send_errors += 1;
                        if self.machine.faulted() {
                            tracing::debug!(
                                "({}) cannot send advert to {dst}: {e}",
                                self.ctx.cfg.name
                            );
                        } else if self.stats.send_errors == 1 || self.stats.send_errors % 100 == 0 {
                            tracing::warn!(
                                "({}) cannot send advert to {dst}: {e}",
                                self.ctx.cfg.name
                            );
                        }
                    }
                },
                Err(e) => {
                    self.stats.send_errors += 1;
                    tracing::error!("({}) cannot encode advert: {e}", self.ctx.cfg.name);
                }
            }
        }
    }

    async fn add_vips(&mut self) {
        for (v, idx) in &self.vip_ifindex {
            let label = v.label.as_deref();
            if let Err(e) = self
                .ctx
                .netlink
                .add_address(*idx, v.addr, v.prefix, label)
                .await
            {
                tracing::error!(
                    "({}) cannot add {}/{}: {e}",
                    self.ctx.cfg.name,
                    v.addr,
                    v.prefix
                );
            }
        }
        self.vips_present = true;
    }

    async fn remove_vips(&mut self) {
        for (v, idx) in &self.vip_ifindex {
            if let Err(e) = self.ctx.netlink.del_address(*idx, v.addr, v.prefix).await {
                tracing::error!(
                    "({}) cannot remove {}/{}: {e}",
                    self.ctx.cfg.name,
                    v.addr,
                    v.prefix
                );
            }
        }
        self.vips_present = false;
    }

    fn send_garp(&mut self, repeat: u32) {
        // Each VIP is announced on its own interface.
        let vips: Vec<(IpAddr, String, Arc<Announcer>)> = self
            .vip_ifindex
            .iter()
            .filter_map(|(v, idx)| {
                self.announcers
                    .get(idx)
                    .map(|(n, a)| (v.addr, n.clone(), a.clone()))
            })
            .collect();
        if vips.is_empty() {
            return;
        }
        let gap4 = self.ctx.global.vrrp_garp_interval;
        let gap6 = self.ctx.global.vrrp_gna_interval;
        let name = self.ctx.cfg.name.clone();
        let send_one = move |ann: &Announcer, iface: &str, a: IpAddr| {
            let what = if a.is_ipv6() {
                "unsolicited neighbour advert"
            } else {
                "gratuitous ARP"
            };
            match ann.send(a) {
                Ok(()) => tracing::debug!("Sending {what} on {iface} for {a}"),
                // the LAN keeps sending to the old master until its ARP
                // entries expire: say so
                Err(e) => tracing::warn!("({name}) Error sending {what} on {iface} for {a}: {e}"),
            }
        };
        if gap4.is_zero() && gap6.is_zero() {
            for _ in 0..repeat {
                for (a, iface, ann) in &vips {
                    send_one(ann, iface, *a);
                }
            }
            return;
        }
        // keepalived's vrrp_garp_interval / vrrp_gna_interval: a gap
        // between the messages of a burst, sent in the background.
        let cancel = self.ctx.cancel.clone();
        self.ctx.tasks.spawn(async move {
            for _ in 0..repeat {
                for (a, iface, ann) in &vips {
                    send_one(ann, iface, *a);
                    let gap = if a.is_ipv6() { gap6 } else { gap4 };
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(gap) => {}
                    }
                }
            }
        });
    }

    fn notify(&self, state: State, priority: u8) {
        let cfg = &self.ctx.cfg;
        let scripts = [
            &cfg.notify_master,
            &cfg.notify_backup,
            &cfg.notify_fault,
            &cfg.notify_stop,
        ];
        self.announce(
            "INSTANCE",
            &cfg.name,
            state,
            Some(priority),
            scripts,
            cfg.notify.as_ref(),
        );
    }

    /// A state change of an instance or a sync group (`kind` `INSTANCE` or
    /// `GROUP`), as keepalived announces it: the state's own script
    /// (`scripts`: master, backup, fault, stop), the notify FIFOs, and the
    /// generic `notify` script with `KIND NAME STATE [PRIORITY]` (a group's
    /// has no priority; its FIFO line says 0).
    fn announce(
        &self,
        kind: &str,
        name: &str,
        state: State,
        priority: Option<u8>,
        scripts: [&Option<config::Command>; 4],
        generic: Option<&config::Command>,
    ) {
        let [master, backup, fault, stop] = scripts;
        let specific = match state {
            State::Master => master.as_ref(),
            State::Backup => backup.as_ref(),
            State::Fault => fault.as_ref(),
            State::Stopped => stop.as_ref(),
            State::Init => None,
        };
        let state_name = state.keepalived_name();
        self.ctx.fifos.write(&crate::fifo::line(
            kind,
            name,
            state_name,
            priority.unwrap_or(0),
        ));
        let mut progs = Vec::new();
        if let Some(c) = specific {
            progs.push(self.program(c, Vec::new()));
        }
        if let Some(c) = generic {
            let mut args = vec![kind.to_string(), name.to_string(), state_name.to_string()];
            args.extend(priority.map(|p| p.to_string()));
            progs.push(self.program(c, args));
        }
        for p in progs {
            if let Some(fut) = crate::script::spawn_notify(&p) {
                self.ctx.tasks.spawn(fut);
            }
        }
    }

    fn program(&self, c: &config::Command, extra: Vec<String>) -> Program {
        let ids = c
            .user
            .as_ref()
            .and_then(crate::script::resolve_user)
            .or(self.ctx.script_user);
        let mut argv = c.argv.clone();
        argv.extend(extra);
        Program {
            argv,
            uid: ids.map(|i| i.0),
            gid: ids.map(|i| i.1),
        }
    }

    fn publish(&self) {
        let m = &self.machine;
        let st = Status {
            name: self.ctx.cfg.name.clone(),
            interface: self.ctx.cfg.interface.clone(),
            vrid: self.ctx.cfg.vrid,
            version: self.ctx.cfg.version,
            state: m.state().keepalived_name().to_string(),
            base_priority: m.base_priority(),
            effective_priority: m.priority(),
            source: Some(self.src.to_string()),
            master: m.master().map(|(a, _)| a.to_string()),
            master_priority: m.master().map(|(_, p)| p),
            advert_int_ms: m.master_adver_int().as_millis() as u64,
            master_down_interval_ms: m.master_down_interval().as_millis() as u64,
            vips: self
                .vip_ifindex
                .iter()
                .map(|(v, _)| format!("{}/{}", v.addr, v.prefix))
                .collect(),
            vips_present: self.vips_present,
            trackers: self
                .ctx
                .trackers
                .iter()
                .map(|t| {
                    let s = match t.ok() {
                        None => "INIT",
                        Some(true) => "GOOD",
                        Some(false) => "BAD",
                    };
                    format!(
                        "{} {} weight {}{}",
                        t.label,
                        s,
                        t.weight,
                        if t.reverse { " reverse" } else { "" }
                    )
                })
                .collect(),
            stats: self.stats.clone(),
        };
        self.ctx.status.send_replace(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_as_keepalived() {
        assert_eq!(contribution(2, false, Some(true)), (2, false));
        assert_eq!(contribution(2, false, Some(false)), (0, false));
        assert_eq!(contribution(-5, false, Some(true)), (0, false));
        assert_eq!(contribution(-5, false, Some(false)), (-5, false));
        assert_eq!(contribution(0, false, Some(false)), (0, true));
        assert_eq!(contribution(0, false, Some(true)), (0, false));
        assert_eq!(contribution(0, false, None), (0, false));
        assert_eq!(contribution(2, true, Some(false)), (2, false));
        assert_eq!(contribution(-5, true, Some(true)), (-5, false));
        assert_eq!(contribution(0, true, Some(true)), (0, true));
    }
}
