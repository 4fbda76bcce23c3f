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
use pnet_packet::Packet;
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
    debug_assert_eq!(ip.payload().len(), buf.len() - ihl);
    Ok((hdr, &buf[ihl..]))
}
