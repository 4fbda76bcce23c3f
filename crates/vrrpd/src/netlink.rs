//! rtnetlink: interfaces, their addresses, VIPs (idempotent add/remove) and
//! link events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use futures::stream::{StreamExt, TryStreamExt};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::{Handle, MulticastGroup};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("netlink: {0}")]
    Rtnl(#[from] rtnetlink::Error),
    #[error("interface {0} not found")]
    NoSuchInterface(String),
}

/// What we need to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Carrier (IFF_RUNNING).
    pub running: bool,
    pub mac: Vec<u8>,
}

impl LinkInfo {
    /// keepalived's notion of "up": IFF_UP and IFF_RUNNING.
    pub fn is_up(&self) -> bool {
        self.admin_up && self.running
    }

    fn from_message(m: &LinkMessage) -> LinkInfo {
        let mut name = String::new();
        let mut mac = Vec::new();
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => name = n.clone(),
                LinkAttribute::Address(b) => mac = b.clone(),
                _ => {}
            }
        }
        LinkInfo {
            index: m.header.index,
            name,
            admin_up: m.header.flags.contains(LinkFlags::Up),
            running: m.header.flags.contains(LinkFlags::Running),
            mac,
        }
    }
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix: u8,
    pub label: Option<String>,
    pub secondary: bool,
    /// IPv6 duplicate address detection not finished (cannot bind yet).
    pub tentative: bool,
}

/// A handle on the rtnetlink socket (its connection runs as a tokio task).
///
/// Every instance shares this one socket. The kernel runs at most one dump
/// per netlink socket and answers a second concurrent dump request with
/// EBUSY, so the get (dump) requests are serialised through `dumps`.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
    dumps: Arc<tokio::sync::Mutex<()>>,
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

impl Netlink {
    /// Open the socket and spawn its connection task (needs a tokio runtime).
    pub fn new() -> Result<Netlink, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Netlink {
            handle,
            dumps: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let _dump = self.dumps.lock().await;
        let mut s = self.handle.link().get().match_name(name).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(LinkInfo::from_message(&m)),
            Ok(None) => Err(NetlinkError::NoSuchInterface(name.to_string())),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                Err(NetlinkError::NoSuchInterface(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every interface.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let _dump = self.dumps.lock().await;
        let mut s = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(m) = s.try_next().await? {
            out.push(LinkInfo::from_message(&m));
        }
        Ok(out)
    }

    pub async fn link_by_index(&self, index: u32) -> Result<LinkInfo, NetlinkError> {
        let _dump = self.dumps.lock().await;
        let mut s = self.handle.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(LinkInfo::from_message(&m)),
            Ok(None) => Err(NetlinkError::NoSuchInterface(index.to_string())),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                Err(NetlinkError::NoSuchInterface(index.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Addresses of an interface, in kernel order (primary first).
    pub async fn addresses(&self, index: u32) -> Result<Vec<IfAddr>, NetlinkError> {
        let _dump = self.dumps.lock().await;
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(m) = s.try_next().await? {
            let mut addr = None;
            let mut local = None;
            let mut label = None;
            let hflags = m.header.flags;
            let mut secondary =
                hflags.contains(netlink_packet_route::address::AddressHeaderFlags::Secondary);
            let mut tentative =
                hflags.contains(netlink_packet_route::address::AddressHeaderFlags::Tentative);
            for a in &m.attributes {
                match a {
                    AddressAttribute::Address(x) => addr = Some(*x),
                    AddressAttribute::Local(x) => local = Some(*x),
                    AddressAttribute::Label(l) => label = Some(l.clone()),
                    AddressAttribute::Flags(f) => {
                        secondary |= f.contains(AddressFlags::Secondary);
                        tentative |= f.contains(AddressFlags::Tentative);
                    }
                    _ => {}
                }
            }
            if let Some(a) = local.or(addr) {
                out.push(IfAddr {
                    addr: a,
                    prefix: m.header.prefix_len,
                    label,
                    secondary,
                    tentative,
                });
            }
        }
        Ok(out)
    }

    /// The interface's primary IPv4 address, skipping `exclude` (our VIPs).
    pub async fn primary_ipv4(
        &self,
        index: u32,
        exclude: &[IpAddr],
    ) -> Result<Option<Ipv4Addr>, NetlinkError> {
        let addrs = self.addresses(index).await?;
        Ok(addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(v) if !a.secondary && !exclude.contains(&a.addr) => Some(v),
            _ => None,
        }))
    }

    /// The interface's first IPv6 link-local address.
    pub async fn link_local_ipv6(&self, index: u32) -> Result<Option<Ipv6Addr>, NetlinkError> {
        let addrs = self.addresses(index).await?;
        Ok(addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80 && !a.tentative => Some(v),
            _ => None,
        }))
    }

    fn message(index: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
        match addr {
            IpAddr::V4(a) => rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, prefix)
                .build(),
            IpAddr::V6(a) => rtnetlink::AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, prefix)
                .build(),
        }
    }

    /// Add an address; `Ok(false)` if it was already there.
    pub async fn add_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix: u8,
        label: Option<&str>,
    ) -> Result<bool, NetlinkError> {
        let mut req = self.handle.address().add(index, addr, prefix);
        let m = req.message_mut();
        // keepalived adds VIPs without a broadcast address.
        m.attributes
            .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        if let Some(l) = label {
            m.attributes.push(AddressAttribute::Label(l.to_string()));
        }
        if addr.is_ipv6() {
            // No duplicate address detection for a VIP (as keepalived).
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove an address; `Ok(false)` if it was not there.
    pub async fn del_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<bool, NetlinkError> {
        let m = Self::message(index, addr, prefix);
        match self.handle.address().del(m).execute().await {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    errno(&e),
                    Some(libc::ENOENT) | Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Is `addr` configured on interface `index`?
    pub async fn has_address(&self, index: u32, addr: IpAddr) -> Result<bool, NetlinkError> {
        Ok(self.addresses(index).await?.iter().any(|a| a.addr == addr))
    }
}

/// A link changed (new/changed or deleted), or one of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub link: LinkInfo,
    pub deleted: bool,
    /// An address of interface `link.index` was added or removed (then
    /// only `link.index` is meaningful).
    pub address: bool,
}

impl LinkEvent {
    fn address(index: u32) -> LinkEvent {
        LinkEvent {
            link: LinkInfo {
                index,
                name: String::new(),
                admin_up: false,
                running: false,
                mac: Vec::new(),
            },
            deleted: false,
            address: true,
        }
    }
}

/// Subscribe to link and address events (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
/// RTNLGRP_IPV6_IFADDR). The stream ends when the socket
/// fails; the connection task ends when the receiver is dropped.
pub fn link_events() -> Result<mpsc::UnboundedReceiver<LinkEvent>, NetlinkError> {
    let (conn, _handle, mut messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    let (tx, rx) = mpsc::unbounded_channel();
    let conn_task = tokio::spawn(conn);
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let ev = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => LinkEvent {
                    link: LinkInfo::from_message(&m),
                    deleted: false,
                    address: false,
                },
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => LinkEvent {
                    link: LinkInfo::from_message(&m),
                    deleted: true,
                    address: false,
                },
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m),
                ) => LinkEvent::address(m.header.index),
                _ => continue,
            };
            if tx.send(ev).is_err() {
                break;
            }
        }
        conn_task.abort();
    });
    Ok(rx)
}
