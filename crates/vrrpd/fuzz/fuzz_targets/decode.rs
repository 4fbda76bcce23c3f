//! Decoder fuzzing: any input either fails cleanly or decodes to an advert
//! that encodes and decodes back to itself. The first byte picks the
//! family and checksum mode; the rest is the packet.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrpd::packet::{self, Options};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, buf)) = data.split_first() else {
        return;
    };
    let (src, dst) = if mode & 1 == 0 {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 2, 11)),
            IpAddr::V4(packet::VRRP_MCAST_V4),
        )
    } else {
        (
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x11)),
            IpAddr::V6(packet::VRRP_MCAST_V6),
        )
    };
    let opts = Options {
        v3_checksum_as_v2: mode & 2 != 0,
    };
    let _ = packet::parse_ipv4(buf);
    if let Ok(adv) = packet::decode(buf, src, dst, &opts) {
        if let Ok(again) = packet::encode(&adv, src, dst, &opts) {
            assert_eq!(packet::decode(&again, src, dst, &opts).ok(), Some(adv));
        }
    }
});
