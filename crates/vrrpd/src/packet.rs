//! VRRP v2/v3 packet codec (pure, no I/O).
//!
//! * VRRPv2: RFC 3768. IPv4 only, auth type 0 (none) or 1 (simple
//!   password), advertisement interval in whole seconds, checksum over the
//!   VRRP message only.
//! * VRRPv3: RFC 5798. IPv4 and IPv6, 12-bit max advertisement interval in
//!   centiseconds, checksum over the IP pseudo-header plus the VRRP message
//!   (as keepalived does). [`Options::v3_checksum_as_v2`] leaves the IPv4
//!   pseudo-header out, for routers that compute it that way.
//!
//! The codec works on the VRRP payload only. [`parse_ipv4`] splits a packet
//! received on a raw IPv4 socket (which includes the IP header) into the
//! header fields the validation needs and the VRRP payload.
//!
//! Receiving is two layers: [`decode`] checks the message itself (length,
//! version, type, family, checksum) and [`validate`] checks it against the
//! receiving instance the way keepalived's `vrrp_check_packet` does (TTL,
//! version, auth, v2 interval, address count and list). [`receive`] runs
//! both. Every reason to drop a packet is a distinct [`DecodeError`] variant
//! so the I/O shell can count them ([`DecodeError::kind`]) and rate-limit
//! its log lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::ipv4::Ipv4Packet;
use thiserror::Error;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of IPsec AH (keepalived's deprecated v2 auth type 2).
pub const IPPROTO_AH: u8 = 51;
/// The TTL / hop limit VRRP packets are sent with and must arrive with.
pub const VRRP_TTL: u8 = 255;
/// The TOS / traffic class keepalived sends VRRP with (internetwork control).
pub const VRRP_TOS: u8 = 0xc0;
/// IPv4 multicast group of VRRP.
pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP.
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Fixed part of the VRRP header (v2 and v3).
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data.
pub const AUTH_LEN: usize = 8;
/// VRRP packet type "advertisement", the only one defined.
pub const TYPE_ADVERT: u8 = 1;
/// Largest v3 interval (12 bits of centiseconds).
pub const V3_MAX_INTERVAL_CS: u16 = 0x0fff;

/// VRRP protocol version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Version {
    /// RFC 3768 (keepalived's default).
    #[default]
    V2,
    /// RFC 5798.
    V3,
}

impl Version {
    /// The number carried in the version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// The version for a version nibble, if supported.
    pub fn from_number(n: u8) -> Option<Version> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// VRRPv2 authentication (always [`Auth::None`] for v3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// Auth type 0.
    #[default]
    None,
    /// Auth type 1: up to 8 bytes of password, zero padded (as keepalived
    /// stores `auth_pass`, truncated to 8 bytes).
    Pass([u8; AUTH_LEN]),
}

impl Auth {
    /// Build a PASS auth from a configured password, truncated to 8 bytes
    /// and zero padded like keepalived does.
    pub fn pass(password: &[u8]) -> Auth {
        let mut data = [0u8; AUTH_LEN];
        let n = password.len().min(AUTH_LEN);
        data[..n].copy_from_slice(&password[..n]);
        Auth::Pass(data)
    }

    /// The auth type number on the wire.
    pub fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
        }
    }
}

/// A VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id (1..=255; 0 is rejected on decode).
    pub vrid: u8,
    /// Priority of the sender (0 = stopping master, 255 = address owner).
    pub priority: u8,
    /// Advertisement interval in centiseconds. v2 carries whole seconds
    /// (so this is a multiple of 100, 100..=25500); v3 carries 12 bits of
    /// centiseconds (1..=4095).
    pub interval_cs: u16,
    /// v2 authentication; [`Auth::None`] for v3.
    pub auth: Auth,
    /// The virtual addresses, all of the packet's family.
    pub addrs: Vec<IpAddr>,
}

impl Advert {
    /// The advertisement interval as a duration.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.interval_cs) * 10)
    }

    /// Length of the encoded VRRP message for this advert and family.
    pub fn encoded_len(&self, v6: bool) -> usize {
        let alen = if v6 { 16 } else { 4 };
        let auth = if self.version == Version::V2 {
            AUTH_LEN
        } else {
            0
        };
        HEADER_LEN + alen * self.addrs.len() + auth
    }
}

/// Codec options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// VRRPv3 over IPv4: compute the checksum without the IPv4
    /// pseudo-header (keepalived's `v3_checksum_as_v2`).
    pub v3_checksum_as_v2: bool,
}

/// Why an advert cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// VRRPv2 is IPv4 only.
    #[error("VRRPv2 cannot be sent over IPv6")]
    V2OverIpv6,
    /// Source, destination and addresses must all be one family.
    #[error("address family mismatch between source, destination and virtual addresses")]
    FamilyMismatch,
    /// More than 255 addresses, or a packet larger than 1500 bytes.
    #[error("too many virtual addresses ({0})")]
    TooManyAddresses(usize),
    /// v2 intervals are whole seconds 1..=255; v3 intervals 1..=4095 cs.
    #[error("advertisement interval {0} cs cannot be encoded for this version")]
    BadInterval(u16),
    /// VRRPv3 has no authentication.
    #[error("VRRPv3 does not support authentication")]
    AuthWithV3,
}

/// Why a received packet was dropped. Each variant is one counter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Sent to an address the instance does not listen on (a unicast
    /// advert to our address on a multicast instance, or the group on a
    /// unicast one): keepalived never sees those.
    #[error("advert sent to {0}, not to this instance's destination")]
    WrongDestination(IpAddr),
    /// Shorter than the fixed VRRP header.
    #[error("vrrp packet too short, length {0}")]
    Truncated(usize),
    /// Version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// Type nibble is not 1 (advertisement).
    #[error("Invalid packet type. {0} and expect 1")]
    BadType(u8),
    /// The length does not match the address count (and auth data for v2).
    #[error("vrrp packet too {}, length {got} and expect {expected}", if got > expected { "long" } else { "short" })]
    LengthMismatch {
        /// Length implied by the address count.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// Checksum does not verify.
    #[error("Invalid VRRPv{version} checksum")]
    BadChecksum {
        /// VRRP version of the packet.
        version: u8,
    },
    /// Source/destination families differ, or v2 over IPv6.
    #[error("address family mismatch (v2 over IPv6, or source and destination differ)")]
    WrongFamily,
    /// VRID 0 is not valid.
    #[error("invalid VRID 0")]
    ZeroVrid,
    /// v3 interval of 0, or v2 interval of 0.
    #[error("invalid advertisement interval 0")]
    ZeroInterval,
    /// v2 auth type not 0 or 1 (AH, type 2, is not supported).
    #[error("Invalid auth type: {0}")]
    BadAuthType(u8),
    /// Not the VRRP version of the receiving instance.
    #[error("wrong version. Received {got} and expect {expected}")]
    VersionMismatch {
        /// The instance's version.
        expected: u8,
        /// The packet's version.
        got: u8,
    },
    /// Not the VRID of the receiving instance.
    #[error("VRID mismatch. Received {got} and expect {expected}")]
    VridMismatch {
        /// The instance's VRID.
        expected: u8,
        /// The packet's VRID.
        got: u8,
    },
    /// Not received with TTL / hop limit 255.
    #[error("invalid TTL/HL. Received {0} and expect 255")]
    BadTtl(u8),
    /// v2 auth type differs from the instance's.
    #[error("received a {got} auth, expecting {expected}!")]
    AuthTypeMismatch {
        /// The instance's auth type.
        expected: u8,
        /// The packet's auth type.
        got: u8,
    },
    /// v2 PASS password differs.
    #[error("received an invalid passwd!")]
    AuthFailure,
    /// v2 advertisement interval differs from the instance's.
    #[error("advertisement interval mismatch mine={mine_s} sec rcv'd={got_s} sec")]
    IntervalMismatch {
        /// The instance's interval, seconds.
        mine_s: u16,
        /// The packet's interval, seconds.
        got_s: u16,
    },
    /// Address count differs from the instance's VIP count.
    #[error("received an unexpected ip number count {got}, expected {expected}!")]
    AddrCountMismatch {
        /// The instance's VIP count.
        expected: usize,
        /// The packet's count.
        got: usize,
    },
    /// One of the instance's VIPs is not in the advert.
    #[error("ip address associated with VRID {vrid} not present in MASTER advert: {missing}")]
    AddrMissing {
        /// The VRID.
        vrid: u8,
        /// The first configured VIP not in the advert.
        missing: IpAddr,
    },
    /// IPv4 packet shorter than its header, or a bad header length.
    #[error("truncated or malformed IPv4 header (length {0})")]
    Ipv4Header(usize),
    /// IPv4 total length differs from what was received.
    #[error("ip_tot_len mismatch against received length. {tot_len} and received {got}")]
    Ipv4TotalLength {
        /// The header's total length.
        tot_len: usize,
        /// Bytes received.
        got: usize,
    },
    /// IP protocol is not VRRP (112); AH (51) is not supported.
    #[error("IP protocol {0} is not VRRP")]
    NotVrrp(u8),
    /// IPv4 fragment (VRRP packets are never fragmented).
    #[error("fragmented IPv4 packet")]
    Fragment,
}

impl DecodeError {
    /// A short stable name for counters and rate-limited logging.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::WrongDestination(_) => "wrong_destination",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::BadType(_) => "bad_type",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::BadChecksum { .. } => "bad_checksum",
            DecodeError::WrongFamily => "wrong_family",
            DecodeError::ZeroVrid => "zero_vrid",
            DecodeError::ZeroInterval => "zero_interval",
            DecodeError::BadAuthType(_) => "bad_auth_type",
            DecodeError::VersionMismatch { .. } => "version_mismatch",
            DecodeError::VridMismatch { .. } => "vrid_mismatch",
            DecodeError::BadTtl(_) => "bad_ttl",
            DecodeError::AuthTypeMismatch { .. } => "auth_type_mismatch",
            DecodeError::AuthFailure => "auth_failure",
            DecodeError::IntervalMismatch { .. } => "interval_mismatch",
            DecodeError::AddrCountMismatch { .. } => "addr_count_mismatch",
            DecodeError::AddrMissing { .. } => "addr_missing",
            DecodeError::Ipv4Header(_) => "ipv4_header",
            DecodeError::Ipv4TotalLength { .. } => "ipv4_total_length",
            DecodeError::NotVrrp(_) => "not_vrrp",
            DecodeError::Fragment => "fragment",
        }
    }
}

/// One's complement sum of `data` added to `acc` (not folded).
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Sum of the pseudo-header for `len` bytes of VRRP from `src` to `dst`.
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut acc = sum16(&s.octets(), 0);
            acc = sum16(&d.octets(), acc);
            acc = acc.wrapping_add(u32::from(IPPROTO_VRRP));
            acc.wrapping_add(len as u32 & 0xffff)
        }
        _ => {
            let (s, d) = (v6_octets(src), v6_octets(dst));
            let mut acc = sum16(&s, 0);
            acc = sum16(&d, acc);
            let l = len as u32;
            acc = acc.wrapping_add(l >> 16).wrapping_add(l & 0xffff);
            acc.wrapping_add(u32::from(IPPROTO_VRRP))
        }
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// Whether the checksum of this version/family includes the pseudo-header.
fn uses_pseudo(version: Version, v6: bool, opts: &Options) -> bool {
    match version {
        Version::V2 => false,
        Version::V3 => v6 || !opts.v3_checksum_as_v2,
    }
}

/// Compute the checksum field for `msg` (whose checksum bytes must be 0).
pub fn checksum(msg: &[u8], version: Version, src: IpAddr, dst: IpAddr, opts: &Options) -> u16 {
    let v6 = src.is_ipv6();
    let acc = if uses_pseudo(version, v6, opts) {
        pseudo_sum(src, dst, msg.len())
    } else {
        0
    };
    !fold(sum16(msg, acc))
}

fn verify_checksum(msg: &[u8], version: Version, src: IpAddr, dst: IpAddr, opts: &Options) -> bool {
    let v6 = src.is_ipv6();
    let acc = if uses_pseudo(version, v6, opts) {
        pseudo_sum(src, dst, msg.len())
    } else {
        0
    };
    fold(sum16(msg, acc)) == 0xffff
}

/// Encode `advert` as a VRRP message sent from `src` to `dst` (the IP
/// header is the kernel's), with its checksum.
pub fn encode(
    advert: &Advert,
    src: IpAddr,
    dst: IpAddr,
    opts: &Options,
) -> Result<Vec<u8>, EncodeError> {
    let v6 = src.is_ipv6();
    if dst.is_ipv6() != v6 || advert.addrs.iter().any(|a| a.is_ipv6() != v6) {
        return Err(EncodeError::FamilyMismatch);
    }
    if advert.version == Version::V2 && v6 {
        return Err(EncodeError::V2OverIpv6);
    }
    let len = advert.encoded_len(v6);
    if advert.addrs.len() > 255 || len > 1480 {
        return Err(EncodeError::TooManyAddresses(advert.addrs.len()));
    }
    let mut buf = Vec::with_capacity(len);
    buf.push((advert.version.number() << 4) | TYPE_ADVERT);
    buf.push(advert.vrid);
    buf.push(advert.priority);
    buf.push(advert.addrs.len() as u8);
    match advert.version {
        Version::V2 => {
            let cs = advert.interval_cs;
            if cs == 0 || cs % 100 != 0 || cs / 100 > 255 {
                return Err(EncodeError::BadInterval(cs));
            }
            buf.push(advert.auth.type_number());
            buf.push((cs / 100) as u8);
        }
        Version::V3 => {
            if advert.auth != Auth::None {
                return Err(EncodeError::AuthWithV3);
            }
            let cs = advert.interval_cs;
            if cs == 0 || cs > V3_MAX_INTERVAL_CS {
                return Err(EncodeError::BadInterval(cs));
            }
            buf.extend_from_slice(&cs.to_be_bytes());
        }
    }
    buf.extend_from_slice(&[0, 0]);
    for a in &advert.addrs {
        match a {
            IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
        }
    }
    if advert.version == Version::V2 {
        match advert.auth {
            Auth::None => buf.extend_from_slice(&[0u8; AUTH_LEN]),
            Auth::Pass(p) => buf.extend_from_slice(&p),
        }
    }
    let ck = checksum(&buf, advert.version, src, dst, opts);
    buf[6..8].copy_from_slice(&ck.to_be_bytes());
    Ok(buf)
}

/// Decode and check a VRRP message received from `src` to `dst`: length,
/// version, type, VRID, interval, family, auth type and checksum. Does not
/// look at the receiving instance (see [`validate`]).
pub fn decode(buf: &[u8], src: IpAddr, dst: IpAddr, opts: &Options) -> Result<Advert, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Err(DecodeError::Truncated(buf.len()));
    }
    let vnum = buf[0] >> 4;
    let version = Version::from_number(vnum).ok_or(DecodeError::BadVersion(vnum))?;
    let v6 = src.is_ipv6();
    if dst.is_ipv6() != v6 || (version == Version::V2 && v6) {
        return Err(DecodeError::WrongFamily);
    }
    let alen = if v6 { 16 } else { 4 };
    let count = usize::from(buf[3]);
    let auth_len = if version == Version::V2 { AUTH_LEN } else { 0 };
    let expected = HEADER_LEN + count * alen + auth_len;
    if buf.len() != expected {
        return Err(DecodeError::LengthMismatch {
            expected,
            got: buf.len(),
        });
    }
    let ty = buf[0] & 0x0f;
    if ty != TYPE_ADVERT {
        return Err(DecodeError::BadType(ty));
    }
    if !verify_checksum(buf, version, src, dst, opts) {
        return Err(DecodeError::BadChecksum { version: vnum });
    }
    let vrid = buf[1];
    if vrid == 0 {
        return Err(DecodeError::ZeroVrid);
    }
    let (interval_cs, auth) = match version {
        Version::V2 => {
            let auth = match buf[4] {
                0 => Auth::None,
                1 => {
                    let mut p = [0u8; AUTH_LEN];
                    p.copy_from_slice(&buf[expected - AUTH_LEN..]);
                    Auth::Pass(p)
                }
                t => return Err(DecodeError::BadAuthType(t)),
            };
            (u16::from(buf[5]) * 100, auth)
        }
        Version::V3 => (
            u16::from_be_bytes([buf[4], buf[5]]) & V3_MAX_INTERVAL_CS,
            Auth::None,
        ),
    };
    if interval_cs == 0 {
        return Err(DecodeError::ZeroInterval);
    }
    let addrs = buf[HEADER_LEN..HEADER_LEN + count * alen]
        .chunks_exact(alen)
        .map(|c| {
            if v6 {
                let mut o = [0u8; 16];
                o.copy_from_slice(c);
                IpAddr::V6(Ipv6Addr::from(o))
            } else {
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            }
        })
        .collect();
    Ok(Advert {
        version,
        vrid,
        priority: buf[2],
        interval_cs,
        auth,
        addrs,
    })
}

/// What the receiving instance expects of an advert (keepalived's
/// `vrrp_check_packet`). Build with `Expect { .., ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    /// The instance's VRRP version.
    pub version: Version,
    /// The instance's VRID.
    pub vrid: u8,
    /// The instance's auth (v2 only).
    pub auth: Auth,
    /// The instance's configured advertisement interval, centiseconds
    /// (checked for v2 only, as RFC 3768 requires).
    pub interval_cs: u16,
    /// The instance's VIPs (count and presence checked when `check_vips`).
    pub vips: Vec<IpAddr>,
    /// Check the address count and list (keepalived always does in
    /// MASTER, and in BACKUP unless `skip_check_adv_addr` and the advert
    /// is from the known master).
    pub check_vips: bool,
    /// Unicast instance: keepalived does not check the TTL then.
    pub unicast: bool,
}

/// Check the IP destination of an advert as keepalived's sockets do: a
/// multicast instance only hears its group (`accepted` = the group), a
/// unicast one only its own address (`accepted` = its source address).
pub fn check_destination(dst: IpAddr, accepted: &[IpAddr]) -> Result<(), DecodeError> {
    if accepted.contains(&dst) {
        Ok(())
    } else {
        Err(DecodeError::WrongDestination(dst))
    }
}

/// Check a decoded advert against the receiving instance. `ttl` is the
/// received TTL / hop limit (`None` when unknown, which skips the check,
/// as keepalived does when it got no cmsg).
pub fn validate(advert: &Advert, ttl: Option<u8>, exp: &Expect) -> Result<(), DecodeError> {
    if let Some(t) = ttl {
        if !exp.unicast && t != VRRP_TTL {
            return Err(DecodeError::BadTtl(t));
        }
    }
    if advert.version != exp.version {
        return Err(DecodeError::VersionMismatch {
            expected: exp.version.number(),
            got: advert.version.number(),
        });
    }
    if advert.vrid != exp.vrid {
        return Err(DecodeError::VridMismatch {
            expected: exp.vrid,
            got: advert.vrid,
        });
    }
    if advert.version == Version::V2 {
        if advert.auth.type_number() != exp.auth.type_number() {
            return Err(DecodeError::AuthTypeMismatch {
                expected: exp.auth.type_number(),
                got: advert.auth.type_number(),
            });
        }
        if let (Auth::Pass(a), Auth::Pass(b)) = (advert.auth, exp.auth) {
            // Constant time, like keepalived.
            let diff = a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y));
            if diff != 0 {
                return Err(DecodeError::AuthFailure);
            }
        }
        if advert.interval_cs != exp.interval_cs {
            return Err(DecodeError::IntervalMismatch {
                mine_s: exp.interval_cs / 100,
                got_s: advert.interval_cs / 100,
            });
        }
    }
    if exp.check_vips {
        if advert.addrs.len() != exp.vips.len() {
            return Err(DecodeError::AddrCountMismatch {
                expected: exp.vips.len(),
                got: advert.addrs.len(),
            });
        }
        if let Some(missing) = exp.vips.iter().find(|v| !advert.addrs.contains(v)) {
            return Err(DecodeError::AddrMissing {
                vrid: exp.vrid,
                missing: *missing,
            });
        }
    }
    Ok(())
}

/// [`decode`] then [`validate`].
pub fn receive(
    buf: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ttl: Option<u8>,
    exp: &Expect,
    opts: &Options,
) -> Result<Advert, DecodeError> {
    let advert = decode(buf, src, dst, opts)?;
    validate(&advert, ttl, exp)?;
    Ok(advert)
}

/// The IPv4 header fields VRRP validation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP + ECN).
    pub tos: u8,
    /// IP protocol.
    pub proto: u8,
}

/// Split a packet from a raw IPv4 socket into its header and VRRP payload.
/// Checks the header length, the total length against what was received,
/// that it is not a fragment and that the protocol is VRRP.
pub fn parse_ipv4(buf: &[u8]) -> Result<(Ipv4Header, &[u8]), DecodeError> {
    let ip = Ipv4Packet::new(buf).ok_or(DecodeError::Ipv4Header(buf.len()))?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    if ip.get_version() != 4 || ihl < 20 || ihl > buf.len() {
        return Err(DecodeError::Ipv4Header(buf.len()));
    }
    let tot_len = usize::from(ip.get_total_length());
    if tot_len != buf.len() {
        return Err(DecodeError::Ipv4TotalLength {
            tot_len,
            got: buf.len(),
        });
    }
    // More-fragments flag or a fragment offset.
    if ip.get_flags() & 0b001 != 0 || ip.get_fragment_offset() != 0 {
        return Err(DecodeError::Fragment);
    }
    let proto = ip.get_next_level_protocol().0;
    if proto != IPPROTO_VRRP {
        return Err(DecodeError::NotVrrp(proto));
    }
    let hdr = Ipv4Header {
        src: ip.get_source(),
        dst: ip.get_destination(),
        ttl: ip.get_ttl(),
        tos: (ip.get_dscp() << 2) | ip.get_ecn(),
        proto,
    };
    Ok((hdr, &buf[ihl..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const MCAST4: IpAddr = IpAddr::V4(VRRP_MCAST_V4);
    const MCAST6: IpAddr = IpAddr::V6(VRRP_MCAST_V6);
    const OPTS: Options = Options {
        v3_checksum_as_v2: false,
    };

    /// Decode `bytes`, check the fields, and check that encoding the
    /// result gives the same bytes back.
    fn roundtrip(bytes: &[u8], src: IpAddr, dst: IpAddr, expect: &Advert) {
        let got = decode(bytes, src, dst, &OPTS).unwrap();
        assert_eq!(&got, expect);
        assert_eq!(encode(&got, src, dst, &OPTS).unwrap(), bytes);
    }

    // Vectors from the issue (captured from keepalived by the reporter).

    #[test]
    fn issue_v2_vector() {
        let mut b = hex("21 33 67 01 00 01 6b 66 0a 00 02 64");
        b.extend_from_slice(&[0; 8]);
        let adv = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 103,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.2.100")],
        };
        roundtrip(&b, v4("10.0.2.11"), MCAST4, &adv);
    }

    /// The issue does not give the source of the v3 capture. With
    /// destination 224.0.0.18 the pseudo-header checksum pins down the
    /// sum of the source's 16-bit words; in 10.0.0.0/16 only 10.0.2.50
    /// makes it verify.
    #[test]
    fn issue_v3_vector_needs_pseudo_header() {
        let b = hex("31 3d 96 01 00 64 3f 37 0a 00 02 65");
        let adv = Advert {
            version: Version::V3,
            vrid: 61,
            priority: 150,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.2.101")],
        };
        let src = v4("10.0.2.50");
        roundtrip(&b, src, MCAST4, &adv);
        let verifying: Vec<u8> = (0..=255u8)
            .filter(|x| decode(&b, v4(&format!("10.0.2.{x}")), MCAST4, &OPTS).is_ok())
            .collect();
        assert_eq!(verifying, vec![50]);
        // Without the pseudo-header it does not verify.
        let compat = Options {
            v3_checksum_as_v2: true,
        };
        assert_eq!(
            decode(&b, src, MCAST4, &compat),
            Err(DecodeError::BadChecksum { version: 3 })
        );
    }

    // Vectors captured here from keepalived 2.2.7 (-n -l -D) in a network
    // namespace with tcpdump: source 10.0.2.11 / fe80::b8e4:91ff:fe19:82bd.

    const KA_SRC4: &str = "10.0.2.11";
    const KA_SRC6: &str = "fe80::b8e4:91ff:fe19:82bd";

    #[test]
    fn keepalived_v2_pass_auth() {
        let b = hex("213367010101fce70a0002647365637265743132");
        let adv = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 103,
            interval_cs: 100,
            auth: Auth::pass(b"secret12"),
            addrs: vec![v4("10.0.2.100")],
        };
        roundtrip(&b, v4(KA_SRC4), MCAST4, &adv);
        // Its priority 0 advert on shutdown.
        let b0 = hex("21330001010163e80a0002647365637265743132");
        roundtrip(&b0, v4(KA_SRC4), MCAST4, &Advert { priority: 0, ..adv });
    }

    #[test]
    fn keepalived_v2_three_addrs_owner() {
        let b = hex("2151ff030002ba5b0a00026e0a00026f0a0002700000000000000000");
        let adv = Advert {
            version: Version::V2,
            vrid: 81,
            priority: 255,
            interval_cs: 200,
            auth: Auth::None,
            addrs: vec![v4("10.0.2.110"), v4("10.0.2.111"), v4("10.0.2.112")],
        };
        roundtrip(&b, v4(KA_SRC4), MCAST4, &adv);
        let b0 = hex("215100030002b95c0a00026e0a00026f0a0002700000000000000000");
        roundtrip(&b0, v4(KA_SRC4), MCAST4, &Advert { priority: 0, ..adv });
    }

    #[test]
    fn keepalived_v3_ipv4() {
        let b = hex("313d9602006432f30a0002650a000266");
        let adv = Advert {
            version: Version::V3,
            vrid: 61,
            priority: 150,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.2.101"), v4("10.0.2.102")],
        };
        roundtrip(&b, v4(KA_SRC4), MCAST4, &adv);
        let b0 = hex("313d00020064c8f30a0002650a000266");
        roundtrip(&b0, v4(KA_SRC4), MCAST4, &Advert { priority: 0, ..adv });
    }

    #[test]
    fn keepalived_v3_ipv6() {
        let b = hex("3147c80100323eaafd000000000000000000000000000100");
        let adv = Advert {
            version: Version::V3,
            vrid: 71,
            priority: 200,
            interval_cs: 50,
            auth: Auth::None,
            addrs: vec!["fd00::100".parse().unwrap()],
        };
        let src: IpAddr = KA_SRC6.parse().unwrap();
        roundtrip(&b, src, MCAST6, &adv);
        let b0 = hex("31470001003206abfd000000000000000000000000000100");
        roundtrip(&b0, src, MCAST6, &Advert { priority: 0, ..adv });
        // The IPv6 checksum always includes the pseudo-header.
        let compat = Options {
            v3_checksum_as_v2: true,
        };
        assert!(decode(&b, src, MCAST6, &compat).is_ok());
    }

    /// keepalived 2.2.7 with `unicast_peer { 10.0.2.5 }`: the v3 IPv4
    /// checksum covers the real (unicast) destination; v2 PASS "abc" is
    /// zero padded.
    #[test]
    fn keepalived_unicast() {
        let src = v4(KA_SRC4);
        let dst = v4("10.0.2.5");
        let b = hex("313eff010064aa570a000278");
        let adv = Advert {
            version: Version::V3,
            vrid: 62,
            priority: 255,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.2.120")],
        };
        roundtrip(&b, src, dst, &adv);
        assert!(decode(&b, src, MCAST4, &OPTS).is_err());
        roundtrip(
            &hex("313e00010064a9580a000278"),
            src,
            dst,
            &Advert { priority: 0, ..adv },
        );
        let b = hex("213fff0101010de20a0002796162630000000000");
        let adv = Advert {
            version: Version::V2,
            vrid: 63,
            priority: 255,
            interval_cs: 100,
            auth: Auth::pass(b"abc"),
            addrs: vec![v4("10.0.2.121")],
        };
        roundtrip(&b, src, dst, &adv);
        roundtrip(
            &hex("213f000101010ce30a0002796162630000000000"),
            src,
            dst,
            &Advert { priority: 0, ..adv },
        );
    }

    #[test]
    fn keepalived_full_ipv4_packets() {
        let full =
            hex("45c0002800010000ff70ce870a00020be0000012213367010101fce70a0002647365637265743132");
        let (h, payload) = parse_ipv4(&full).unwrap();
        assert_eq!(
            h,
            Ipv4Header {
                src: "10.0.2.11".parse().unwrap(),
                dst: VRRP_MCAST_V4,
                ttl: 255,
                tos: VRRP_TOS,
                proto: IPPROTO_VRRP,
            }
        );
        let exp = Expect {
            version: Version::V2,
            vrid: 51,
            auth: Auth::pass(b"secret12"),
            interval_cs: 100,
            vips: vec![v4("10.0.2.100")],
            check_vips: true,
            unicast: false,
        };
        let adv = receive(
            payload,
            h.src.into(),
            h.dst.into(),
            Some(h.ttl),
            &exp,
            &OPTS,
        )
        .unwrap();
        assert_eq!(adv.priority, 103);

        let full3 = hex("45c0002400010000ff70ce8b0a00020be0000012313d9602006432f30a0002650a000266");
        let (h, payload) = parse_ipv4(&full3).unwrap();
        let adv = decode(payload, h.src.into(), h.dst.into(), &OPTS).unwrap();
        assert_eq!(adv.vrid, 61);
    }

    #[test]
    fn v3_checksum_as_v2_roundtrip() {
        let adv = Advert {
            version: Version::V3,
            vrid: 9,
            priority: 100,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.1.1.1")],
        };
        let compat = Options {
            v3_checksum_as_v2: true,
        };
        let src = v4("10.1.1.2");
        let b = encode(&adv, src, MCAST4, &compat).unwrap();
        assert_eq!(decode(&b, src, MCAST4, &compat).unwrap(), adv);
        // The checksum then does not depend on the addresses...
        assert!(decode(&b, v4("10.9.9.9"), MCAST4, &compat).is_ok());
        // ...and does not verify in the standard mode.
        assert_eq!(
            decode(&b, src, MCAST4, &OPTS),
            Err(DecodeError::BadChecksum { version: 3 })
        );
        // Standard mode: the pseudo-header includes the destination, so a
        // unicast copy has a different checksum.
        let m = encode(&adv, src, MCAST4, &OPTS).unwrap();
        let u = encode(&adv, src, v4("10.1.1.3"), &OPTS).unwrap();
        assert_ne!(m[6..8], u[6..8]);
        assert!(decode(&u, src, v4("10.1.1.3"), &OPTS).is_ok());
    }

    #[test]
    fn roundtrip_many() {
        let six: IpAddr = "fe80::1".parse().unwrap();
        for (version, interval_cs) in [(Version::V2, 100), (Version::V2, 25500), (Version::V3, 1)] {
            for n in [0usize, 1, 2, 20, 255] {
                for prio in [0u8, 1, 100, 254, 255] {
                    let adv = Advert {
                        version,
                        vrid: 200,
                        priority: prio,
                        interval_cs,
                        auth: if version == Version::V2 {
                            Auth::pass(b"pw")
                        } else {
                            Auth::None
                        },
                        addrs: (0..n)
                            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 3, (i / 256) as u8, i as u8)))
                            .collect(),
                    };
                    let src = v4("10.3.255.1");
                    let b = encode(&adv, src, MCAST4, &OPTS).unwrap();
                    assert_eq!(b.len(), adv.encoded_len(false));
                    assert_eq!(decode(&b, src, MCAST4, &OPTS).unwrap(), adv);
                }
            }
        }
        let adv = Advert {
            version: Version::V3,
            vrid: 1,
            priority: 254,
            interval_cs: V3_MAX_INTERVAL_CS,
            auth: Auth::None,
            addrs: (0..80u16)
                .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i)))
                .collect(),
        };
        let b = encode(&adv, six, MCAST6, &OPTS).unwrap();
        assert_eq!(decode(&b, six, MCAST6, &OPTS).unwrap(), adv);
    }

    #[test]
    fn encode_errors() {
        let six: IpAddr = "fe80::1".parse().unwrap();
        let base = Advert {
            version: Version::V2,
            vrid: 1,
            priority: 100,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.0.1")],
        };
        let src = v4("10.0.0.2");
        assert_eq!(
            encode(&base, six, MCAST6, &OPTS),
            Err(EncodeError::FamilyMismatch)
        );
        let v2six = Advert {
            addrs: vec![six],
            ..base.clone()
        };
        assert_eq!(
            encode(&v2six, six, MCAST6, &OPTS),
            Err(EncodeError::V2OverIpv6)
        );
        assert_eq!(
            encode(&base, src, MCAST6, &OPTS),
            Err(EncodeError::FamilyMismatch)
        );
        for cs in [0u16, 150, 25600] {
            let a = Advert {
                interval_cs: cs,
                ..base.clone()
            };
            assert_eq!(
                encode(&a, src, MCAST4, &OPTS),
                Err(EncodeError::BadInterval(cs))
            );
        }
        let v3 = Advert {
            version: Version::V3,
            ..base.clone()
        };
        for cs in [0u16, 4096] {
            let a = Advert {
                interval_cs: cs,
                ..v3.clone()
            };
            assert_eq!(
                encode(&a, src, MCAST4, &OPTS),
                Err(EncodeError::BadInterval(cs))
            );
        }
        let a = Advert {
            auth: Auth::pass(b"x"),
            ..v3.clone()
        };
        assert_eq!(encode(&a, src, MCAST4, &OPTS), Err(EncodeError::AuthWithV3));
        let a = Advert {
            addrs: vec![v4("10.0.0.1"); 256],
            ..base.clone()
        };
        assert_eq!(
            encode(&a, src, MCAST4, &OPTS),
            Err(EncodeError::TooManyAddresses(256))
        );
    }

    /// A valid v2 packet (PASS) to corrupt.
    fn good_v2() -> (Vec<u8>, IpAddr) {
        (hex("213367010101fce70a0002647365637265743132"), v4(KA_SRC4))
    }

    /// Fix the v2 checksum after a deliberate corruption, so the test
    /// reaches the check it targets.
    fn fix_v2(b: &mut [u8]) {
        b[6] = 0;
        b[7] = 0;
        let c = checksum(b, Version::V2, MCAST4, MCAST4, &OPTS);
        b[6..8].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn decode_malformed() {
        let (b, src) = good_v2();
        let d = |buf: &[u8]| decode(buf, src, MCAST4, &OPTS);
        for n in 0..HEADER_LEN {
            assert_eq!(d(&b[..n]), Err(DecodeError::Truncated(n)));
        }
        // Truncated after the header: the length no longer matches.
        assert_eq!(
            d(&b[..b.len() - 1]),
            Err(DecodeError::LengthMismatch {
                expected: 20,
                got: 19
            })
        );
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            d(&long),
            Err(DecodeError::LengthMismatch {
                expected: 20,
                got: 21
            })
        );
        // Count says 2 addresses, there is 1.
        let mut c = b.clone();
        c[3] = 2;
        fix_v2(&mut c);
        assert_eq!(
            d(&c),
            Err(DecodeError::LengthMismatch {
                expected: 24,
                got: 20
            })
        );
        // Count 0 with the address present.
        let mut c = b.clone();
        c[3] = 0;
        assert_eq!(
            d(&c),
            Err(DecodeError::LengthMismatch {
                expected: 16,
                got: 20
            })
        );
        for v in [0u8, 1, 4, 15] {
            let mut c = b.clone();
            c[0] = (v << 4) | 1;
            assert_eq!(d(&c), Err(DecodeError::BadVersion(v)));
        }
        for t in [0u8, 2, 15] {
            let mut c = b.clone();
            c[0] = 0x20 | t;
            fix_v2(&mut c);
            assert_eq!(d(&c), Err(DecodeError::BadType(t)));
        }
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x40;
            // Flipping a bit anywhere else breaks the checksum (or an
            // earlier check); never accepted.
            assert!(d(&c).is_err(), "byte {i}");
        }
        let mut c = b.clone();
        c[7] ^= 1;
        assert_eq!(d(&c), Err(DecodeError::BadChecksum { version: 2 }));
        let mut c = b.clone();
        c[1] = 0;
        fix_v2(&mut c);
        assert_eq!(d(&c), Err(DecodeError::ZeroVrid));
        let mut c = b.clone();
        c[5] = 0;
        fix_v2(&mut c);
        assert_eq!(d(&c), Err(DecodeError::ZeroInterval));
        for t in [2u8, 3, 255] {
            let mut c = b.clone();
            c[4] = t;
            fix_v2(&mut c);
            assert_eq!(d(&c), Err(DecodeError::BadAuthType(t)));
        }
        // v2 over IPv6, and mixed families.
        let six: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            decode(&b, six, MCAST6, &OPTS),
            Err(DecodeError::WrongFamily)
        );
        assert_eq!(
            decode(&b, src, MCAST6, &OPTS),
            Err(DecodeError::WrongFamily)
        );
        // A v3 IPv4 packet received on IPv6: the length no longer fits.
        let v3 = hex("313d9602006432f30a0002650a000266");
        assert_eq!(
            decode(&v3, six, MCAST6, &OPTS),
            Err(DecodeError::LengthMismatch {
                expected: 40,
                got: 16
            })
        );
        // v3 with a zero interval (checksum fixed).
        let adv = Advert {
            version: Version::V3,
            vrid: 3,
            priority: 100,
            interval_cs: 100,
            auth: Auth::None,
            addrs: vec![v4("10.0.0.1")],
        };
        let mut z = encode(&adv, src, MCAST4, &OPTS).unwrap();
        z[4] = 0xf0; // reserved bits set, interval 0
        z[5] = 0;
        z[6] = 0;
        z[7] = 0;
        let c = checksum(&z, Version::V3, src, MCAST4, &OPTS);
        z[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            decode(&z, src, MCAST4, &OPTS),
            Err(DecodeError::ZeroInterval)
        );
        // Reserved bits are ignored.
        z[5] = 100;
        z[6] = 0;
        z[7] = 0;
        let c = checksum(&z, Version::V3, src, MCAST4, &OPTS);
        z[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(decode(&z, src, MCAST4, &OPTS).unwrap(), adv);
    }

    fn expect_v2() -> Expect {
        Expect {
            version: Version::V2,
            vrid: 51,
            auth: Auth::pass(b"secret12"),
            interval_cs: 100,
            vips: vec![v4("10.0.2.100")],
            check_vips: true,
            unicast: false,
        }
    }

    #[test]
    fn validate_rules() {
        let (b, src) = good_v2();
        let adv = decode(&b, src, MCAST4, &OPTS).unwrap();
        let exp = expect_v2();
        assert_eq!(validate(&adv, Some(255), &exp), Ok(()));
        assert_eq!(validate(&adv, None, &exp), Ok(()));
        for ttl in [0u8, 1, 64, 254] {
            assert_eq!(
                validate(&adv, Some(ttl), &exp),
                Err(DecodeError::BadTtl(ttl))
            );
            // Not checked for unicast, as keepalived.
            let uni = Expect {
                unicast: true,
                ..exp.clone()
            };
            assert_eq!(validate(&adv, Some(ttl), &uni), Ok(()));
        }
        let e = Expect {
            version: Version::V3,
            ..exp.clone()
        };
        assert_eq!(
            validate(&adv, Some(255), &e),
            Err(DecodeError::VersionMismatch {
                expected: 3,
                got: 2
            })
        );
        let e = Expect {
            vrid: 52,
            ..exp.clone()
        };
        assert_eq!(
            validate(&adv, Some(255), &e),
            Err(DecodeError::VridMismatch {
                expected: 52,
                got: 51
            })
        );
        let e = Expect {
            auth: Auth::None,
            ..exp.clone()
        };
        assert_eq!(
            validate(&adv, Some(255), &e),
            Err(DecodeError::AuthTypeMismatch {
                expected: 0,
                got: 1
            })
        );
        let e = Expect {
            auth: Auth::pass(b"secret13"),
            ..exp.clone()
        };
        assert_eq!(validate(&adv, Some(255), &e), Err(DecodeError::AuthFailure));
        // keepalived truncates the password to 8 bytes.
        let e = Expect {
            auth: Auth::pass(b"secret12-and-more"),
            ..exp.clone()
        };
        assert_eq!(validate(&adv, Some(255), &e), Ok(()));
        let e = Expect {
            interval_cs: 300,
            ..exp.clone()
        };
        let err = validate(&adv, Some(255), &e).unwrap_err();
        assert_eq!(
            err,
            DecodeError::IntervalMismatch {
                mine_s: 3,
                got_s: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "advertisement interval mismatch mine=3 sec rcv'd=1 sec"
        );
        let e = Expect {
            vips: vec![v4("10.0.2.100"), v4("10.0.2.101")],
            ..exp.clone()
        };
        assert_eq!(
            validate(&adv, Some(255), &e),
            Err(DecodeError::AddrCountMismatch {
                expected: 2,
                got: 1
            })
        );
        let e = Expect {
            vips: vec![v4("10.0.2.99")],
            ..exp.clone()
        };
        assert_eq!(
            validate(&adv, Some(255), &e),
            Err(DecodeError::AddrMissing {
                vrid: 51,
                missing: v4("10.0.2.99")
            })
        );
        let e = Expect {
            vips: vec![v4("10.0.2.99")],
            check_vips: false,
            ..exp.clone()
        };
        assert_eq!(validate(&adv, Some(255), &e), Ok(()));

        // v3: no auth and no interval check (the backup learns it).
        let b3 = hex("313d9602006432f30a0002650a000266");
        let adv3 = decode(&b3, src, MCAST4, &OPTS).unwrap();
        let e3 = Expect {
            version: Version::V3,
            vrid: 61,
            auth: Auth::None,
            interval_cs: 300,
            vips: vec![v4("10.0.2.102"), v4("10.0.2.101")],
            check_vips: true,
            unicast: false,
        };
        assert_eq!(validate(&adv3, Some(255), &e3), Ok(()));
        assert_eq!(
            receive(&b3, src, MCAST4, Some(254), &e3, &OPTS),
            Err(DecodeError::BadTtl(254))
        );
    }

    #[test]
    fn error_kinds_are_distinct() {
        let all = [
            DecodeError::Truncated(0),
            DecodeError::BadVersion(0),
            DecodeError::BadType(0),
            DecodeError::LengthMismatch {
                expected: 0,
                got: 0,
            },
            DecodeError::BadChecksum { version: 2 },
            DecodeError::WrongFamily,
            DecodeError::ZeroVrid,
            DecodeError::ZeroInterval,
            DecodeError::BadAuthType(2),
            DecodeError::VersionMismatch {
                expected: 2,
                got: 3,
            },
            DecodeError::VridMismatch {
                expected: 1,
                got: 2,
            },
            DecodeError::BadTtl(1),
            DecodeError::AuthTypeMismatch {
                expected: 0,
                got: 1,
            },
            DecodeError::AuthFailure,
            DecodeError::IntervalMismatch {
                mine_s: 1,
                got_s: 2,
            },
            DecodeError::AddrCountMismatch {
                expected: 1,
                got: 2,
            },
            DecodeError::AddrMissing {
                vrid: 1,
                missing: v4("10.0.0.1"),
            },
            DecodeError::Ipv4Header(0),
            DecodeError::Ipv4TotalLength { tot_len: 0, got: 0 },
            DecodeError::NotVrrp(6),
            DecodeError::Fragment,
        ];
        let kinds: std::collections::HashSet<_> = all.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds.len(), all.len());
        assert_eq!(
            DecodeError::BadTtl(254).to_string(),
            "invalid TTL/HL. Received 254 and expect 255"
        );
        assert_eq!(
            DecodeError::LengthMismatch {
                expected: 20,
                got: 12
            }
            .to_string(),
            "vrrp packet too short, length 12 and expect 20"
        );
    }

    #[test]
    fn parse_ipv4_malformed() {
        let full =
            hex("45c0002800010000ff70ce870a00020be0000012213367010101fce70a0002647365637265743132");
        for n in [0usize, 1, 19] {
            assert_eq!(parse_ipv4(&full[..n]), Err(DecodeError::Ipv4Header(n)));
        }
        // Received less than the total length.
        assert_eq!(
            parse_ipv4(&full[..30]),
            Err(DecodeError::Ipv4TotalLength {
                tot_len: 40,
                got: 30
            })
        );
        let mut c = full.clone();
        c[0] = 0x44; // IHL 4
        assert_eq!(parse_ipv4(&c), Err(DecodeError::Ipv4Header(40)));
        let mut c = full.clone();
        c[0] = 0x65; // version 6
        assert_eq!(parse_ipv4(&c), Err(DecodeError::Ipv4Header(40)));
        let mut c = full.clone();
        c[0] = 0x4f; // IHL 60 > 40
        assert_eq!(parse_ipv4(&c), Err(DecodeError::Ipv4Header(40)));
        let mut c = full.clone();
        c[9] = IPPROTO_AH;
        assert_eq!(parse_ipv4(&c), Err(DecodeError::NotVrrp(51)));
        let mut c = full.clone();
        c[6] = 0x20; // more fragments
        assert_eq!(parse_ipv4(&c), Err(DecodeError::Fragment));
        let mut c = full.clone();
        c[7] = 0x01; // offset
        assert_eq!(parse_ipv4(&c), Err(DecodeError::Fragment));
        // IP options: IHL 6 with a 4-byte NOP option; payload still found.
        let mut o = full[..20].to_vec();
        o[0] = 0x46;
        o[3] += 4;
        o.extend_from_slice(&[1, 1, 1, 0]);
        o.extend_from_slice(&full[20..]);
        let (h, p) = parse_ipv4(&o).unwrap();
        assert_eq!(h.ttl, 255);
        assert_eq!(p, &full[20..]);
        // TTL from the header is what validate sees.
        let mut c = full.clone();
        c[8] = 254;
        let (h, p) = parse_ipv4(&c).unwrap();
        assert_eq!(
            receive(
                p,
                h.src.into(),
                h.dst.into(),
                Some(h.ttl),
                &expect_v2(),
                &OPTS
            ),
            Err(DecodeError::BadTtl(254))
        );
    }

    /// Deterministic fuzzing: random and mutated inputs never panic, and
    /// whatever decodes re-encodes to something that decodes the same.
    #[test]
    fn decode_never_panics_and_is_stable() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let addrs: [IpAddr; 4] = [v4(KA_SRC4), MCAST4, KA_SRC6.parse().unwrap(), MCAST6];
        let seeds = [
            hex("213367010101fce70a0002647365637265743132"),
            hex("313d9602006432f30a0002650a000266"),
            hex("3147c80100323eaafd000000000000000000000000000100"),
            hex("2151ff030002ba5b0a00026e0a00026f0a0002700000000000000000"),
        ];
        let mut accepted = 0;
        for i in 0..30_000 {
            let mut buf = if i % 2 == 0 {
                let n = (rnd() % 72) as usize;
                (0..n).map(|_| rnd() as u8).collect::<Vec<u8>>()
            } else {
                let mut b = seeds[(rnd() % 4) as usize].clone();
                for _ in 0..=(rnd() % 3) {
                    let j = (rnd() as usize) % b.len();
                    b[j] = rnd() as u8;
                }
                if rnd() % 4 == 0 {
                    b.truncate((rnd() as usize) % (b.len() + 1));
                }
                b
            };
            let (src, dst) = if rnd() % 2 == 0 {
                (addrs[0], addrs[1])
            } else {
                (addrs[2], addrs[3])
            };
            let opts = Options {
                v3_checksum_as_v2: rnd() % 2 == 0,
            };
            // Sometimes make the checksum right so decoding goes deeper.
            if buf.len() >= HEADER_LEN && rnd() % 2 == 0 {
                buf[6] = 0;
                buf[7] = 0;
                let v = if buf[0] >> 4 == 3 {
                    Version::V3
                } else {
                    Version::V2
                };
                let c = checksum(&buf, v, src, dst, &opts);
                buf[6..8].copy_from_slice(&c.to_be_bytes());
            }
            let _ = parse_ipv4(&buf);
            if let Ok(adv) = decode(&buf, src, dst, &opts) {
                accepted += 1;
                let again = encode(&adv, src, dst, &opts).unwrap();
                assert_eq!(decode(&again, src, dst, &opts).unwrap(), adv);
                let _ = validate(&adv, Some(255), &expect_v2());
            }
        }
        assert!(accepted > 100, "only {accepted} accepted");
    }

    #[test]
    fn auth_pass_padding() {
        assert_eq!(Auth::pass(b"ab"), Auth::Pass(*b"ab\0\0\0\0\0\0"));
        assert_eq!(Auth::pass(b"0123456789"), Auth::Pass(*b"01234567"));
        assert_eq!(Auth::None.type_number(), 0);
        assert_eq!(Auth::pass(b"").type_number(), 1);
    }

    #[test]
    fn destination_is_checked_like_keepalived_sockets() {
        let group: IpAddr = "224.0.0.18".parse().unwrap();
        let own: IpAddr = "10.0.2.11".parse().unwrap();
        // Multicast instance: the group only, not a unicast to us.
        assert_eq!(check_destination(group, &[group]), Ok(()));
        assert_eq!(
            check_destination(own, &[group]),
            Err(DecodeError::WrongDestination(own))
        );
        assert_eq!(
            DecodeError::WrongDestination(own).kind(),
            "wrong_destination"
        );
        // Unicast instance: our address only, not the group.
        assert_eq!(check_destination(own, &[own]), Ok(()));
        assert!(check_destination(group, &[own]).is_err());
        let g6: IpAddr = "ff02::12".parse().unwrap();
        let ll: IpAddr = "fe80::1".parse().unwrap();
        assert!(check_destination(ll, &[g6]).is_err());
        assert_eq!(check_destination(g6, &[g6]), Ok(()));
    }
}
