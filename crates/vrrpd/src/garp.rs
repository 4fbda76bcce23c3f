//! Gratuitous ARP (AF_PACKET, pnet_packet layouts) and IPv6 unsolicited
//! neighbour advertisements (ICMPv6 raw socket to ff02::1), sent per VIP.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{NdpOptionTypes, NeighborAdvertFlags};
use pnet_packet::icmpv6::Icmpv6Types;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const ETH_HDR: usize = 14;
const ARP_LEN: usize = 28;
/// Minimum Ethernet frame without FCS.
const MIN_FRAME: usize = 60;

/// A gratuitous ARP frame: broadcast ARP request announcing `vip` at `mac`.
pub fn arp_frame(mac: [u8; 6], vip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; MIN_FRAME];
    if let Some(mut eth) = MutableEthernetPacket::new(&mut buf) {
        eth.set_destination([0xff; 6].into());
        eth.set_source(mac.into());
        eth.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut arp) = MutableArpPacket::new(&mut buf[ETH_HDR..ETH_HDR + ARP_LEN]) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(mac.into());
        arp.set_sender_proto_addr(vip);
        arp.set_target_hw_addr([0xff; 6].into());
        arp.set_target_proto_addr(vip);
    }
    buf
}

/// An unsolicited neighbour advertisement (override flag, target link-layer
/// address option). The checksum is left to the kernel (ICMPv6 raw socket).
pub fn na_packet(mac: [u8; 6], vip: Ipv6Addr) -> Vec<u8> {
    let mut p = vec![0u8; 32];
    p[0] = Icmpv6Types::NeighborAdvert.0;
    p[1] = 0;
    p[4] = NeighborAdvertFlags::Override;
    p[8..24].copy_from_slice(&vip.octets());
    p[24] = NdpOptionTypes::TargetLLAddr.0;
    p[25] = 1; // length in units of 8 bytes
    p[26..32].copy_from_slice(&mac);
    p
}

/// Sender of gratuitous ARPs / NAs on one interface.
pub struct Announcer {
    ifindex: u32,
    mac: [u8; 6],
    packet: Option<OwnedFd>,
    icmp6: Option<Socket>,
}

impl Announcer {
    pub fn new(ifname: &str, ifindex: u32, mac: &[u8]) -> io::Result<Announcer> {
        // announcing a VIP at a made-up address would black-hole it
        let m: [u8; 6] = mac.try_into().map_err(|_| {
            io::Error::other(format!(
                "{ifname} has no Ethernet address ({} bytes)",
                mac.len()
            ))
        })?;
        let arp = Protocol::from(i32::from((libc::ETH_P_ARP as u16).to_be()));
        let packet = Some(OwnedFd::from(Socket::new(
            Domain::PACKET,
            Type::RAW.nonblocking().cloexec(),
            Some(arp),
        )?));
        let icmp6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                s.bind_device(Some(ifname.as_bytes()))?;
                s.set_multicast_hops_v6(255)?;
                s.set_unicast_hops_v6(255)?;
                s.set_multicast_if_v6(ifindex)?;
                s.set_multicast_loop_v6(false)?;
                Ok(s)
            })
            .ok();
        Ok(Announcer {
            ifindex,
            mac: m,
            packet,
            icmp6,
        })
    }

    pub fn send_arp(&self, vip: Ipv4Addr) -> io::Result<()> {
        let Some(fd) = &self.packet else {
            return Err(io::Error::other("no packet socket"));
        };
        let frame = arp_frame(self.mac, vip);
        let sll = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ARP as u16).to_be(),
            sll_ifindex: self.ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
        };
        // SAFETY: valid fd, buffer and address of the stated sizes. Neither
        // nix (LinkAddr has no safe constructor) nor socket2 (SockAddr::new
        // is unsafe) can build a link-layer destination without unsafe.
        let r = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn send_na(&self, vip: Ipv6Addr) -> io::Result<()> {
        let Some(s) = &self.icmp6 else {
            return Err(io::Error::other("no ICMPv6 socket"));
        };
        let p = na_packet(self.mac, vip);
        let dst = SocketAddrV6::new(
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            0,
            0,
            self.ifindex,
        );
        s.send_to(&p, &SockAddr::from(dst))?;
        Ok(())
    }

    pub fn send(&self, vip: std::net::IpAddr) -> io::Result<()> {
        match vip {
            std::net::IpAddr::V4(a) => self.send_arp(a),
            std::net::IpAddr::V6(a) => self.send_na(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_layout() {
        let f = arp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 2, 100));
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        // htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 2, 100]);
        assert_eq!(&f[38..42], &[10, 0, 2, 100]);
    }

    #[test]
    fn na_layout() {
        let vip: Ipv6Addr = "fd00::100".parse().unwrap();
        let p = na_packet([2, 0, 0, 0, 0, 1], vip);
        assert_eq!(p[0], 136);
        assert_eq!(p[4], 0x20);
        assert_eq!(&p[8..24], &vip.octets());
        assert_eq!(&p[24..26], &[2, 1]);
    }
}
