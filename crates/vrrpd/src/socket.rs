//! Raw VRRP sockets (IP protocol 112), one pair per instance.
//!
//! A send socket bound to the instance's source address (and interface), TTL
//! / hop limit 255, TOS 0xc0, multicast loop off; a receive socket bound to
//! the interface that joined 224.0.0.18 / ff02::12 (unless unicast). IPv4 raw
//! sockets deliver the IP header, so the TTL and addresses come from it; IPv6
//! uses ancillary data (hop limit, packet info) and lets the kernel compute
//! and verify the checksum (IPV6_CHECKSUM at offset 6).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recv, recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub const IPPROTO_VRRP: i32 = 112;
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
const TOS: u32 = 0xc0;

/// A received VRRP packet with what the IP layer told us about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// The VRRP payload (after the IPv4 header).
    pub payload: Vec<u8>,
}

/// Why a datagram was not handed to the VRRP decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    #[error("IP packet too short ({0} bytes)")]
    Short(usize),
    #[error("not an IPv4 packet (version {0})")]
    Version(u8),
    #[error("bad IPv4 header length {0}")]
    HeaderLen(usize),
    #[error("not VRRP (protocol {0})")]
    Protocol(u8),
    #[error("IPv4 total length {total} does not match received {got}")]
    Length { total: usize, got: usize },
}

/// Split a raw IPv4 datagram into addresses, TTL and payload.
pub fn parse_ipv4(buf: &[u8]) -> Result<Received, IpError> {
    if buf.len() < 20 {
        return Err(IpError::Short(buf.len()));
    }
    let version = buf[0] >> 4;
    if version != 4 {
        return Err(IpError::Version(version));
    }
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    if ihl < 20 || ihl > buf.len() {
        return Err(IpError::HeaderLen(ihl));
    }
    if buf[9] != IPPROTO_VRRP as u8 {
        return Err(IpError::Protocol(buf[9]));
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total != buf.len() {
        return Err(IpError::Length {
            total,
            got: buf.len(),
        });
    }
    let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
    let dst = Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]);
    Ok(Received {
        src: src.into(),
        dst: dst.into(),
        ttl: buf[8],
        payload: buf[ihl..].to_vec(),
    })
}

/// What to open.
#[derive(Debug, Clone)]
pub struct SocketSpec {
    pub ifname: String,
    pub ifindex: u32,
    /// Source address (IPv4 primary / unicast_src_ip, or IPv6 link-local).
    pub src: IpAddr,
    /// No multicast membership (unicast peers only).
    pub unicast: bool,
    /// Multicast group (224.0.0.18 / ff02::12 unless `vrrp_mcast_group4|6`).
    pub group: IpAddr,
}

/// The per-instance VRRP sockets.
pub struct VrrpSocket {
    spec: SocketSpec,
    send: Socket,
    recv: AsyncFd<Socket>,
}

fn raw(domain: Domain) -> io::Result<Socket> {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

fn setsockopt_int(s: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: valid fd, pointer to an int of the given size. Only for
    // IPV6_CHECKSUM, which neither nix's sockopt nor socket2 offers.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl VrrpSocket {
    pub fn open(spec: SocketSpec) -> io::Result<VrrpSocket> {
        let (send, recv) = match spec.src {
            IpAddr::V4(src) => Self::open_v4(&spec, src)?,
            IpAddr::V6(src) => Self::open_v6(&spec, src)?,
        };
        // SAFETY: the socket is owned by the AsyncFd and registered once.
        // tokio's registration is unsafe (I/O safety); nix has no reactor.
        let recv = unsafe { AsyncFd::register_with_interest(recv, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(VrrpSocket { spec, send, recv })
    }

    fn open_v4(spec: &SocketSpec, src: Ipv4Addr) -> io::Result<(Socket, Socket)> {
        let send = raw(Domain::IPV4)?;
        send.bind_device(Some(spec.ifname.as_bytes()))?;
        send.set_ttl_v4(255)?;
        send.set_multicast_ttl_v4(255)?;
        send.set_tos_v4(TOS)?;
        send.set_multicast_loop_v4(false)?;
        send.set_multicast_if_v4(&src)?;
        send.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;

        let recv = raw(Domain::IPV4)?;
        recv.bind_device(Some(spec.ifname.as_bytes()))?;
        recv.set_multicast_all_v4(false)?;
        if !spec.unicast {
            let group = match spec.group {
                IpAddr::V4(g) => g,
                IpAddr::V6(_) => VRRP_GROUP_V4,
            };
            recv.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(spec.ifindex))?;
        }
        Ok((send, recv))
    }

    fn open_v6(spec: &SocketSpec, src: Ipv6Addr) -> io::Result<(Socket, Socket)> {
        let send = raw(Domain::IPV6)?;
        send.bind_device(Some(spec.ifname.as_bytes()))?;
        setsockopt_int(&send, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, 6)?;
        send.set_unicast_hops_v6(255)?;
        send.set_multicast_hops_v6(255)?;
        send.set_tclass_v6(TOS)?;
        send.set_multicast_loop_v6(false)?;
        send.set_multicast_if_v6(spec.ifindex)?;
        let scope = if is_link_local(&src) { spec.ifindex } else { 0 };
        send.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, scope)))?;

        let recv = raw(Domain::IPV6)?;
        recv.bind_device(Some(spec.ifname.as_bytes()))?;
        setsockopt_int(&recv, libc::IPPROTO_IPV6, libc::IPV6_CHECKSUM, 6)?;
        recv.set_recv_hoplimit_v6(true)?;
        setsockopt(&recv, sockopt::Ipv6RecvPacketInfo, &true)?;
        if !spec.unicast {
            let group = match spec.group {
                IpAddr::V6(g) => g,
                IpAddr::V4(_) => VRRP_GROUP_V6,
            };
            recv.join_multicast_v6(&group, spec.ifindex)?;
        }
        Ok((send, recv))
    }

    pub fn spec(&self) -> &SocketSpec {
        &self.spec
    }

    /// The multicast group of this socket's family.
    pub fn group(&self) -> IpAddr {
        self.spec.group
    }

    /// Send one VRRP payload to `dst` (the group or a unicast peer).
    pub fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        let addr = match dst {
            IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
            IpAddr::V6(a) => {
                let scope = if is_link_local(&a) || a.is_multicast() {
                    self.spec.ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
            }
        };
        let n = self.send.send_to(payload, &SockAddr::from(addr))?;
        if n != payload.len() {
            return Err(io::Error::other("short send"));
        }
        Ok(())
    }

    /// Receive the next datagram. IPv4 framing errors are returned as
    /// `Ok(Err(..))` so that the caller can count them.
    pub async fn recv(&self) -> io::Result<Result<Received, IpError>> {
        loop {
            let mut guard = self.recv.readable().await?;
            let r = guard.try_io(|s| match self.spec.src {
                IpAddr::V4(_) => recv_v4(s.get_ref()),
                IpAddr::V6(_) => recv_v6(s.get_ref()),
            });
            match r {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

fn recv_v4(s: &Socket) -> io::Result<Result<Received, IpError>> {
    let mut buf = [0u8; 2048];
    let n = recv(s.as_raw_fd(), &mut buf, MsgFlags::empty())?;
    Ok(parse_ipv4(&buf[..n.min(buf.len())]))
}

/// Room for the IPV6_HOPLIMIT and IPV6_PKTINFO control messages, aligned
/// for the `cmsghdr`s the kernel writes into it.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

fn recv_v6(s: &Socket) -> io::Result<Result<Received, IpError>> {
    let mut buf = [0u8; 2048];
    let mut cmsg = CmsgBuf([0; 256]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<SockaddrIn6>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg.0),
        MsgFlags::empty(),
    )?;
    let n = msg.bytes;
    let src = msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip());
    let mut dst = Ipv6Addr::UNSPECIFIED;
    let mut ttl = 0u8;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::Ipv6HopLimit(v) => ttl = u8::try_from(v).unwrap_or(0),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Ipv6Addr::from(info.ipi6_addr.s6_addr)
            }
            _ => {}
        }
    }
    Ok(Ok(Received {
        src: src.into(),
        dst: dst.into(),
        ttl,
        payload: buf[..n.min(buf.len())].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip4(payload: &[u8], ttl: u8) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![
            0x45, 0xc0, 0, 0, 0, 0, 0, 0, ttl, 112, 0, 0, 10, 0, 2, 11, 224, 0, 0, 18,
        ];
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn ipv4_framing() {
        let p = ip4(&[0x21, 0x33], 255);
        let r = parse_ipv4(&p).unwrap();
        assert_eq!(r.src, IpAddr::from([10, 0, 2, 11]));
        assert_eq!(r.dst, IpAddr::from([224, 0, 0, 18]));
        assert_eq!(r.ttl, 255);
        assert_eq!(r.payload, vec![0x21, 0x33]);
        assert_eq!(parse_ipv4(&p[..10]), Err(IpError::Short(10)));
        let mut bad = p.clone();
        bad[0] = 0x65;
        assert_eq!(parse_ipv4(&bad), Err(IpError::Version(6)));
        let mut bad = p.clone();
        bad[0] = 0x4f;
        assert_eq!(parse_ipv4(&bad), Err(IpError::HeaderLen(60)));
        let mut bad = p.clone();
        bad[9] = 6;
        assert_eq!(parse_ipv4(&bad), Err(IpError::Protocol(6)));
        let mut bad = p.clone();
        bad.push(0);
        assert!(matches!(parse_ipv4(&bad), Err(IpError::Length { .. })));
    }
}
