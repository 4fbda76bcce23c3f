//! The load-balancing algorithms, pure and deterministic.
//!
//! The balancer sees the servers of a backend through [`Candidate`] (their
//! effective weight, whether they are usable, backup flag, current sessions
//! and `maxconn`), keeps its own small algorithm state, and answers a
//! [`Pick`]. No I/O, no clock: the runtime (`state.rs`) calls it under the
//! backend's mutex once per new session.
//!
//! Server selection rules, as HAProxy:
//! - only usable servers (UP, not in maintenance) with a non-zero effective
//!   weight take new sessions (a server in drain has an effective weight 0);
//! - backup servers are used only when no active server is usable: the first
//!   usable backup in declaration order, or all of them with
//!   `option allbackups`;
//! - a server whose `maxconn` is reached is skipped; when every eligible
//!   server is full the session must wait in the queue ([`Pick::Full`]).

/// The `balance` algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algo {
    /// Weighted round robin, smooth interleaving, dynamic weights.
    #[default]
    RoundRobin,
    /// Weighted round robin on the configured weights.
    StaticRr,
    /// Fewest current sessions relative to the weight, round robin on ties.
    LeastConn,
    /// The first server (in declaration order) with a free slot.
    First,
    /// Hash of the client address over the weighted server map.
    Source,
}

impl Algo {
    /// Every algorithm, in the order the config's messages list them.
    pub const ALL: [Algo; 5] = [
        Algo::RoundRobin,
        Algo::StaticRr,
        Algo::LeastConn,
        Algo::First,
        Algo::Source,
    ];

    /// The algorithm named `name` in a `balance` line, if supported.
    pub fn from_name(name: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The name `show stat` prints in its `algo` column.
    pub fn name(self) -> &'static str {
        match self {
            Algo::RoundRobin => "roundrobin",
            Algo::StaticRr => "static-rr",
            Algo::LeastConn => "leastconn",
            Algo::First => "first",
            Algo::Source => "source",
        }
    }
}

/// What the balancer needs to know about a server.
pub trait Candidate {
    /// Current effective weight (0 when draining or weighted to 0).
    fn weight(&self) -> u32;
    /// The configured weight (static-rr balances on this one).
    fn initial_weight(&self) -> u32 {
        self.weight()
    }
    /// UP and not in maintenance.
    fn usable(&self) -> bool;
    fn backup(&self) -> bool;
    /// Sessions currently established or connecting on this server.
    fn served(&self) -> u32;
    /// 0 means unlimited.
    fn maxconn(&self) -> u32;
    /// Numeric server id (`first` fills servers by increasing id).
    fn id(&self) -> u32 {
        0
    }
    /// Whether the server's own queue can take one more session
    /// (`maxqueue` not reached).
    fn queue_room(&self) -> bool {
        true
    }
}

/// The answer of [`Balancer::pick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Index of the chosen server in the slice.
    Server(usize),
    /// Servers are eligible but all are at their `maxconn`: queue.
    Full,
    /// The hash designates this server, which is full: wait in its own
    /// queue (HAProxy's server queue, bounded by `maxqueue`).
    QueueOn(usize),
    /// No usable server at all.
    NoServer,
}

/// Algorithm state of one backend.
#[derive(Debug, Clone, Default)]
pub struct Balancer {
    algo: Algo,
    allbackups: bool,
    /// Smooth weighted round robin: current weight per server index.
    current: Vec<i64>,
    /// Rotating start for leastconn ties.
    next: usize,
    /// `balance source`: HAProxy's weighted server map (server indexes),
    /// rebuilt after [`Balancer::reset`].
    map: Vec<usize>,
    map_valid: bool,
}

fn eff_weight<C: Candidate>(algo: Algo, c: &C) -> u32 {
    match algo {
        // static algorithms (HAProxy's map-based ones) keep the configured
        // weight; a runtime weight only matters when it is 0
        Algo::StaticRr | Algo::Source if c.weight() != 0 => c.initial_weight(),
        _ => c.weight(),
    }
}

fn full<C: Candidate>(c: &C) -> bool {
    let m = c.maxconn();
    m != 0 && c.served() >= m
}

impl Balancer {
    pub fn new(algo: Algo, allbackups: bool) -> Self {
        Balancer {
            algo,
            allbackups,
            current: Vec::new(),
            next: 0,
            map: Vec::new(),
            map_valid: false,
        }
    }

    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// Forget the round-robin positions (call when the server list, a weight
    /// or a server's state changed).
    pub fn reset(&mut self) {
        self.current.iter_mut().for_each(|c| *c = 0);
        self.map_valid = false;
    }

    /// Whether server `i` is in the eligible pool (ignoring `maxconn`).
    fn pool<C: Candidate>(&self, servers: &[C]) -> Pool {
        let weight = |c: &C| match self.algo {
            Algo::StaticRr | Algo::Source => {
                if c.weight() == 0 {
                    0
                } else {
                    c.initial_weight()
                }
            }
            _ => c.weight(),
        };
        let active = servers
            .iter()
            .any(|c| !c.backup() && c.usable() && weight(c) > 0);
        if active {
            return Pool::Active;
        }
        let first_backup = servers
            .iter()
            .position(|c| c.backup() && c.usable() && weight(c) > 0);
        match first_backup {
            None => Pool::Empty,
            Some(i) if !self.allbackups => Pool::One(i),
            Some(_) => Pool::Backups,
        }
    }

    /// Choose a server for a new session. `key` is the source-address hash
    /// (only used by [`Algo::Source`]); `avoid` is a server not to use when
    /// another one is eligible (redispatch after connection failures).
    pub fn pick<C: Candidate>(&mut self, servers: &[C], key: u64, avoid: Option<usize>) -> Pick {
        if self.current.len() != servers.len() {
            self.current.resize(servers.len(), 0);
        }
        let pool = self.pool(servers);
        let algo = self.algo;
        let in_pool = |i: usize, c: &C| -> bool {
            if !c.usable() || eff_weight(algo, c) == 0 {
                return false;
            }
            match pool {
                Pool::Empty => false,
                Pool::Active => !c.backup(),
                Pool::Backups => c.backup(),
                Pool::One(j) => i == j,
            }
        };
        let mut eligible = 0usize;
        let mut avail = 0usize;
        let mut avail_not_avoided = 0usize;
        for (i, c) in servers.iter().enumerate() {
            if in_pool(i, c) {
                eligible += 1;
                if !full(c) {
                    avail += 1;
                    if Some(i) != avoid {
                        avail_not_avoided += 1;
                    }
                }
            }
        }
        if eligible == 0 {
            return Pick::NoServer;
        }
        if avail == 0 && self.algo != Algo::Source {
            return Pick::Full;
        }
        let skip_avoid = avail_not_avoided > 0;
        let ok = |i: usize, c: &C| in_pool(i, c) && !full(c) && !(skip_avoid && Some(i) == avoid);
        match self.algo {
            Algo::RoundRobin | Algo::StaticRr => {
                // Smooth weighted round robin: every candidate gains its
                // weight, the richest wins and pays the total. An avoided
                // server (redispatch) still takes part in the arithmetic,
                // so that the rotation continues as if it had been passed
                // over, as HAProxy's round-robin pointer does.
                let mut total = 0i64;
                let mut best: Option<usize> = None;
                for (i, c) in servers.iter().enumerate() {
                    if !in_pool(i, c) || full(c) {
                        continue;
                    }
                    let w = i64::from(eff_weight(algo, c));
                    self.current[i] += w;
                    total += w;
                    if !ok(i, c) {
                        continue;
                    }
                    match best {
                        Some(b) if self.current[b] >= self.current[i] => {}
                        _ => best = Some(i),
                    }
                }
                match best {
                    Some(b) => {
                        self.current[b] -= total;
                        Pick::Server(b)
                    }
                    None => Pick::Full,
                }
            }
            Algo::LeastConn => {
                let n = servers.len();
                let start = self.next % n.max(1);
                let mut best: Option<usize> = None;
                for k in 0..n {
                    let i = (start + k) % n;
                    let c = &servers[i];
                    if !ok(i, c) {
                        continue;
                    }
                    best = match best {
                        None => Some(i),
                        Some(b) => {
                            let cb = &servers[b];
                            // served_i / w_i < served_b / w_b
                            let li = u64::from(c.served()) * u64::from(eff_weight(algo, cb));
                            let lb = u64::from(cb.served()) * u64::from(eff_weight(algo, c));
                            if li < lb {
                                Some(i)
                            } else {
                                Some(b)
                            }
                        }
                    };
                }
                match best {
                    Some(b) => {
                        self.next = b + 1;
                        Pick::Server(b)
                    }
                    None => Pick::Full,
                }
            }
            Algo::First => servers
                .iter()
                .enumerate()
                .filter(|(i, c)| ok(*i, c))
                .min_by_key(|(i, c)| (c.id(), *i))
                .map_or(Pick::Full, |(i, _)| Pick::Server(i)),
            Algo::Source => {
                // HAProxy's map-based hash: the address hash modulo the
                // total weight indexes a weighted, interleaved map of the
                // eligible pool (full servers included, so that a client
                // keeps its server); a full or avoided target queues or
                // falls to the next one.
                let target = match pool {
                    Pool::One(j) => j,
                    _ => {
                        let used = servers
                            .iter()
                            .enumerate()
                            .filter(|(i, c)| in_pool(*i, c))
                            .count();
                        // HAProxy does not hash when one server is left
                        let h = if used == 1 { 0 } else { key };
                        let lookup = |map: &[usize]| match map.len() as u64 {
                            0 => None,
                            n => map
                                .get((h % n) as usize)
                                .copied()
                                .filter(|&t| t < servers.len() && in_pool(t, &servers[t])),
                        };
                        let cached = if self.map_valid {
                            lookup(&self.map)
                        } else {
                            None
                        };
                        match cached {
                            Some(t) => t,
                            None => {
                                // (re)build the map: first use, or the
                                // eligible set changed
                                self.map = source_map(servers, |i, c| in_pool(i, c));
                                self.map_valid = true;
                                match lookup(&self.map) {
                                    Some(t) => t,
                                    None => return Pick::NoServer,
                                }
                            }
                        }
                    }
                };
                if ok(target, &servers[target]) {
                    return Pick::Server(target);
                }
                let avoided = skip_avoid && Some(target) == avoid;
                if !avoided && servers[target].queue_room() {
                    return Pick::QueueOn(target);
                }
                // the server queue is full (maxqueue): redispatch
                let n = servers.len();
                (0..n)
                    .map(|k| (target + k) % n)
                    .find(|&i| ok(i, &servers[i]))
                    .map_or(Pick::Full, Pick::Server)
            }
        }
    }
}

/// The greatest common divisor of the configured weights, by which
/// HAProxy divides the weights of its map-based algorithms (computed over
/// every server of the backend, as at configuration time).
fn weight_gcd<C: Candidate>(servers: &[C]) -> u32 {
    let mut it = servers
        .iter()
        .map(|c| c.initial_weight())
        .skip_while(|w| *w == 0);
    let Some(mut g) = it.next() else {
        return 1;
    };
    for mut w in it {
        if g <= 1 {
            break;
        }
        while w != 0 {
            let t = g % w;
            g = w;
            w = t;
        }
    }
    g.max(1)
}

/// HAProxy's weighted server map for `balance source` (map-based hash):
/// one entry per unit of (GCD-reduced) weight, servers interleaved in
/// proportion to their weights, ties to the first declared.
fn source_map<C: Candidate>(servers: &[C], in_pool: impl Fn(usize, &C) -> bool) -> Vec<usize> {
    let weight = |c: &C| eff_weight(Algo::Source, c);
    let g = weight_gcd(servers);
    let w: Vec<i64> = servers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if in_pool(i, c) {
                i64::from(weight(c).div_ceil(g))
            } else {
                0
            }
        })
        .collect();
    let tot: i64 = w.iter().sum();
    let Some(first) = w.iter().position(|&x| x > 0) else {
        return Vec::new();
    };
    if tot == 1 {
        return vec![first];
    }
    let mut score = vec![0i64; servers.len()];
    let mut map = Vec::with_capacity(usize::try_from(tot).unwrap_or(0));
    for _ in 0..tot {
        let mut best: Option<(usize, i64)> = None;
        for (i, &wi) in w.iter().enumerate() {
            if wi == 0 {
                continue;
            }
            score[i] += wi;
            let v = (score[i] + tot) / tot;
            if best.is_none_or(|(_, max)| v > max) {
                best = Some((i, v));
            }
        }
        if let Some((b, _)) = best {
            score[b] -= tot;
            map.push(b);
        }
    }
    map
}

#[derive(Debug, Clone, Copy)]
enum Pool {
    Empty,
    Active,
    Backups,
    One(usize),
}

/// The hash of a client address for [`Algo::Source`], as HAProxy's
/// `balance source` computes it (map-based `hash-type`, no avalanche): the
/// XOR of the address's 32-bit big-endian words (IPv4: the address
/// itself; IPv6, v4-mapped included: its four words).
pub fn source_hash(ip: std::net::IpAddr) -> u64 {
    let h = match ip {
        std::net::IpAddr::V4(a) => u32::from(a),
        std::net::IpAddr::V6(a) => {
            let o = a.octets();
            o.chunks_exact(4).fold(0u32, |h, w| {
                h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])
            })
        }
    };
    u64::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone)]
    struct S {
        w: u32,
        iw: u32,
        up: bool,
        backup: bool,
        served: u32,
        maxconn: u32,
        qfull: bool,
        id: u32,
    }

    fn s(w: u32) -> S {
        S {
            w,
            iw: w,
            up: true,
            backup: false,
            served: 0,
            maxconn: 0,
            qfull: false,
            id: 0,
        }
    }
    fn b(w: u32) -> S {
        S {
            backup: true,
            ..s(w)
        }
    }

    impl Candidate for S {
        fn weight(&self) -> u32 {
            self.w
        }
        fn initial_weight(&self) -> u32 {
            self.iw
        }
        fn usable(&self) -> bool {
            self.up
        }
        fn backup(&self) -> bool {
            self.backup
        }
        fn served(&self) -> u32 {
            self.served
        }
        fn maxconn(&self) -> u32 {
            self.maxconn
        }
        fn queue_room(&self) -> bool {
            !self.qfull
        }
        fn id(&self) -> u32 {
            self.id
        }
    }

    fn seq(lb: &mut Balancer, srv: &[S], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| match lb.pick(srv, 0, None) {
                Pick::Server(i) => i,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn roundrobin_equal_weights_in_order() {
        let srv = vec![s(1), s(1), s(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        assert_eq!(seq(&mut lb, &srv, 7), vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn roundrobin_weighted_smooth() {
        let srv = vec![s(3), s(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        let got = seq(&mut lb, &srv, 8);
        assert_eq!(got, vec![0, 0, 1, 0, 0, 0, 1, 0]);
        // interleaved: never three of the heavy one without the light one
        // in a window of four
        assert_eq!(got.iter().filter(|&&i| i == 1).count(), 2);
        let srv = vec![s(5), s(1), s(1)];
        let got = seq(&mut lb, &srv, 7);
        assert_eq!(got, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn roundrobin_proportions_hold() {
        let srv = vec![s(10), s(20), s(70)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        let got = seq(&mut lb, &srv, 1000);
        let count = |k| got.iter().filter(|&&i| i == k).count();
        assert_eq!((count(0), count(1), count(2)), (100, 200, 700));
    }

    #[test]
    fn dynamic_weight_change() {
        let mut srv = vec![s(1), s(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        seq(&mut lb, &srv, 2);
        srv[0].w = 3;
        lb.reset();
        let got = seq(&mut lb, &srv, 8);
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 6);
        srv[1].w = 0;
        assert_eq!(seq(&mut lb, &srv, 3), vec![0, 0, 0]);
    }

    #[test]
    fn static_rr_ignores_runtime_weight_but_not_zero() {
        let mut srv = vec![s(1), s(1)];
        srv[0].w = 5;
        let mut lb = Balancer::new(Algo::StaticRr, false);
        assert_eq!(seq(&mut lb, &srv, 4), vec![0, 1, 0, 1]);
        srv[0].w = 0;
        assert_eq!(seq(&mut lb, &srv, 2), vec![1, 1]);
    }

    #[test]
    fn down_and_maint_excluded() {
        let mut srv = vec![s(1), s(1), s(1)];
        srv[1].up = false;
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        assert_eq!(seq(&mut lb, &srv, 4), vec![0, 2, 0, 2]);
        srv.iter_mut().for_each(|x| x.up = false);
        assert_eq!(lb.pick(&srv, 0, None), Pick::NoServer);
        assert_eq!(lb.pick(&Vec::<S>::new(), 0, None), Pick::NoServer);
    }

    #[test]
    fn drain_gets_no_new_traffic() {
        // drain = effective weight 0
        let srv = vec![s(0), s(1)];
        let mut lb = Balancer::new(Algo::LeastConn, false);
        assert_eq!(seq(&mut lb, &srv, 3), vec![1, 1, 1]);
        let mut lb = Balancer::new(Algo::First, false);
        assert_eq!(seq(&mut lb, &srv, 2), vec![1, 1]);
    }

    #[test]
    fn backups_only_when_no_active() {
        let mut srv = vec![s(1), b(1), b(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        assert_eq!(seq(&mut lb, &srv, 3), vec![0, 0, 0]);
        srv[0].up = false;
        assert_eq!(seq(&mut lb, &srv, 3), vec![1, 1, 1]);
        srv[1].up = false;
        assert_eq!(seq(&mut lb, &srv, 2), vec![2, 2]);
        srv[1].up = true;
        let mut lb = Balancer::new(Algo::RoundRobin, true);
        assert_eq!(seq(&mut lb, &srv, 4), vec![1, 2, 1, 2]);
        srv[0].up = true;
        assert_eq!(seq(&mut lb, &srv, 2), vec![0, 0]);
    }

    #[test]
    fn active_drain_falls_to_backup() {
        let srv = vec![s(0), b(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        assert_eq!(seq(&mut lb, &srv, 2), vec![1, 1]);
    }

    #[test]
    fn maxconn_full_and_queue() {
        let mut srv = vec![s(1), s(1)];
        srv[0].maxconn = 1;
        srv[0].served = 1;
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        assert_eq!(seq(&mut lb, &srv, 3), vec![1, 1, 1]);
        srv[1].maxconn = 2;
        srv[1].served = 2;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Full);
        // a full backup does not make the active pool fall over
        srv.push(b(1));
        assert_eq!(lb.pick(&srv, 0, None), Pick::Full);
    }

    #[test]
    fn leastconn_weights_and_ties() {
        let mut srv = vec![s(1), s(1), s(1)];
        srv[0].served = 2;
        srv[1].served = 1;
        srv[2].served = 1;
        let mut lb = Balancer::new(Algo::LeastConn, false);
        let first = lb.pick(&srv, 0, None);
        assert!(matches!(first, Pick::Server(1) | Pick::Server(2)));
        let second = lb.pick(&srv, 0, None);
        assert_ne!(first, second, "ties rotate");
        // weight 2 with 3 sessions (1.5) beats weight 1 with 2 (2.0)
        let mut srv = vec![s(1), s(2)];
        srv[0].served = 2;
        srv[1].served = 3;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(1));
    }

    #[test]
    fn first_fills_in_order() {
        let mut srv = vec![s(1), s(1), s(1)];
        srv.iter_mut().for_each(|x| x.maxconn = 2);
        let mut lb = Balancer::new(Algo::First, false);
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(0));
        srv[0].served = 2;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(1));
        srv[1].up = false;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(2));
        srv[2].served = 2;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Full);
    }

    #[test]
    fn first_follows_ids() {
        let mut srv = vec![s(1), s(1), s(1)];
        srv[0].id = 3;
        srv[1].id = 1;
        srv[2].id = 2;
        srv.iter_mut().for_each(|x| x.maxconn = 1);
        let mut lb = Balancer::new(Algo::First, false);
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(1));
        srv[1].served = 1;
        assert_eq!(lb.pick(&srv, 0, None), Pick::Server(2));
    }

    #[test]
    fn source_is_sticky_and_spreads() {
        let srv = vec![s(1), s(1), s(1)];
        let mut lb = Balancer::new(Algo::Source, false);
        let mut seen = [0usize; 3];
        for last in 0..=255u8 {
            let ip = std::net::IpAddr::from([10, 0, 0, last]);
            let a = lb.pick(&srv, source_hash(ip), None);
            let again = lb.pick(&srv, source_hash(ip), None);
            assert_eq!(a, again);
            if let Pick::Server(i) = a {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 30), "{seen:?}");
        // a v4-mapped v6 address hashes as HAProxy's AF_INET6 source
        let v4 = std::net::IpAddr::from([192, 0, 2, 1]);
        let v6: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(source_hash(v4), 0xc000_0201);
        assert_eq!(source_hash(v6), 0xc000_0201 ^ 0xffff);
    }

    #[test]
    fn source_map_as_haproxy() {
        // equal weights: declaration order; hash = address % servers
        let srv = vec![s(1), s(1), s(1)];
        let mut lb = Balancer::new(Algo::Source, false);
        for last in 1..=9u8 {
            let ip = std::net::IpAddr::from([127, 0, 0, last]);
            let want = (0x7f00_0000u32 + u32::from(last)) % 3;
            assert_eq!(
                lb.pick(&srv, source_hash(ip), None),
                Pick::Server(want as usize)
            );
        }
        // weights are reduced by their GCD and interleaved
        let srv = vec![s(20), s(10), s(30)];
        assert_eq!(source_map(&srv, |_, _| true), vec![0, 2, 0, 2, 1, 2]);
        let srv = vec![s(3), s(1)];
        assert_eq!(source_map(&srv, |_, _| true), vec![0, 0, 0, 1]);
        // the map is static: a runtime weight other than 0 is ignored
        let mut srv = vec![s(3), s(1)];
        srv[1].w = 5;
        assert_eq!(source_map(&srv, |_, _| true), vec![0, 0, 0, 1]);
        // one server left: no hashing
        let mut srv = vec![s(1), s(1)];
        srv[0].up = false;
        let mut lb = Balancer::new(Algo::Source, false);
        assert_eq!(lb.pick(&srv, 7, None), Pick::Server(1));
    }

    #[test]
    fn source_full_target_queues_then_redispatches_at_maxqueue() {
        let mut srv = vec![s(1), s(1)];
        let mut lb = Balancer::new(Algo::Source, false);
        let key = (0..100u64)
            .find(|k| lb.pick(&srv, *k, None) == Pick::Server(0))
            .unwrap();
        srv[0].maxconn = 1;
        srv[0].served = 1;
        assert_eq!(lb.pick(&srv, key, None), Pick::QueueOn(0));
        srv[0].qfull = true;
        assert_eq!(lb.pick(&srv, key, None), Pick::Server(1));
        srv[1].maxconn = 1;
        srv[1].served = 1;
        assert_eq!(lb.pick(&srv, key, None), Pick::Full);
    }

    #[test]
    fn avoid_picks_another_when_possible() {
        let srv = vec![s(1), s(1)];
        for algo in [
            Algo::RoundRobin,
            Algo::StaticRr,
            Algo::LeastConn,
            Algo::First,
            Algo::Source,
        ] {
            let mut lb = Balancer::new(algo, false);
            for _ in 0..4 {
                assert_eq!(lb.pick(&srv, 0, Some(0)), Pick::Server(1), "{algo:?}");
            }
            // the only server left is used even if avoided
            assert_eq!(lb.pick(&srv[..1], 0, Some(0)), Pick::Server(0));
        }
    }

    #[test]
    fn redispatch_keeps_the_rotation() {
        // dead server first: each session tries it, then is redispatched
        let srv = vec![s(1), s(1)];
        let mut lb = Balancer::new(Algo::RoundRobin, false);
        for _ in 0..3 {
            assert_eq!(lb.pick(&srv, 0, None), Pick::Server(0));
            assert_eq!(lb.pick(&srv, 0, Some(0)), Pick::Server(1));
        }
    }

    #[test]
    fn algo_names() {
        assert_eq!(Algo::RoundRobin.name(), "roundrobin");
        assert_eq!(Algo::Source.name(), "source");
    }
}
