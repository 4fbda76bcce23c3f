//! A bounded, pure parser for the first TLS record of a connection: the
//! record header, the handshake header and, for a ClientHello, the SNI
//! (server_name extension) and whether the supported-groups ("elliptic
//! curves") extension is present. No TLS library, no allocation beyond the
//! SNI string; every length is checked against what the peer sent.
//!
//! Partial input is normal while tcp-request content waits: anything that
//! is merely cut short answers [`HelloError::NeedMore`], anything that can
//! never become a valid ClientHello answers [`HelloError::Invalid`].

use thiserror::Error;

/// TLS record content type "handshake".
pub const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type "client_hello".
pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Extension type "server_name" (RFC 6066).
pub const EXT_SERVER_NAME: u16 = 0;
/// Extension type "supported_groups", formerly "elliptic_curves" (RFC 4492).
pub const EXT_SUPPORTED_GROUPS: u16 = 10;

/// Why the bytes are not (yet) a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HelloError {
    /// The bytes so far are a valid prefix; more are needed to decide.
    #[error("incomplete TLS record")]
    NeedMore,
    /// The bytes can never be a (supported) ClientHello.
    #[error("not a TLS ClientHello: {0}")]
    Invalid(&'static str),
}

/// The TLS record header (5 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: u8,
    /// (major, minor), e.g. (3, 1) for the "TLS 1.0" record layer.
    pub version: (u8, u8),
    pub length: u16,
}

/// What we extract from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub record: RecordHeader,
    /// The legacy_version field of the hello body.
    pub version: (u8, u8),
    /// The first host_name entry of the server_name extension.
    pub sni: Option<String>,
    /// Whether the supported_groups (elliptic curves) extension is present.
    pub has_ec_ext: bool,
}

/// Largest record plaintext allowed by RFC 8446 (2^14) plus slack for
/// the expansion allowed on the wire.
const MAX_RECORD: usize = 16384 + 2048;

/// Parses the 5-byte record header. Rejects non-TLS data early so a
/// plain-text protocol never waits for more bytes.
pub fn record_header(buf: &[u8]) -> Result<RecordHeader, HelloError> {
    if buf.len() < 5 {
        // Reject early on what is already visible.
        if let Some(&t) = buf.first() {
            if !(20..=24).contains(&t) {
                return Err(HelloError::Invalid("unknown record type"));
            }
        }
        if let Some(&major) = buf.get(1) {
            if major != 3 {
                return Err(HelloError::Invalid("unsupported record version"));
            }
        }
        return Err(HelloError::NeedMore);
    }
    let content_type = buf[0];
    if !(20..=24).contains(&content_type) {
        return Err(HelloError::Invalid("unknown record type"));
    }
    if buf[1] != 3 {
        return Err(HelloError::Invalid("unsupported record version"));
    }
    let length = u16::from_be_bytes([buf[3], buf[4]]);
    if usize::from(length) > MAX_RECORD {
        return Err(HelloError::Invalid("record too long"));
    }
    Ok(RecordHeader {
        content_type,
        version: (buf[1], buf[2]),
        length,
    })
}

/// Whether a first byte starts an SSLv3/TLS record as HAProxy sees it
/// (change_cipher_spec, alert, handshake, application_data).
fn tls_record_start(b: u8) -> bool {
    (0x14..=0x17).contains(&b)
}

/// The handshake message type of the first record, HAProxy's way: any
/// SSLv3+ record type, a record of at least 4 bytes, and the whole
/// handshake message present.
pub fn hello_type(buf: &[u8]) -> Result<u8, HelloError> {
    let Some(&first) = buf.first() else {
        return Err(HelloError::NeedMore);
    };
    if !tls_record_start(first) {
        return Err(HelloError::Invalid("unknown record type"));
    }
    if buf.len() < 9 {
        return Err(HelloError::NeedMore);
    }
    if buf[1] < 3 {
        return Err(HelloError::Invalid("unsupported record version"));
    }
    if u16::from_be_bytes([buf[3], buf[4]]) < 4 {
        return Err(HelloError::Invalid("record too short"));
    }
    let hs_len = (usize::from(buf[6]) << 16) | (usize::from(buf[7]) << 8) | usize::from(buf[8]);
    if buf.len() < 9 + hs_len {
        return Err(HelloError::NeedMore);
    }
    Ok(buf[5])
}

/// The record-layer (major, minor) version once the whole first record
/// (capped at `cap` bytes) is present, as HAProxy's `req.ssl_ver` does.
/// SSLv2-format hellos are not supported (reported invalid).
pub fn record_version(buf: &[u8], cap: usize) -> Result<(u8, u8), HelloError> {
    let Some(&first) = buf.first() else {
        return Err(HelloError::NeedMore);
    };
    if !tls_record_start(first) {
        return Err(HelloError::Invalid("unknown record type"));
    }
    if buf.len() < 5 {
        return Err(HelloError::NeedMore);
    }
    if buf[1] < 3 {
        return Err(HelloError::Invalid("unsupported record version"));
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if !(1..=MAX_RECORD).contains(&len) {
        return Err(HelloError::Invalid("bad record length"));
    }
    if buf.len() - 5 < len.min(cap.saturating_sub(5)) {
        return Err(HelloError::NeedMore);
    }
    Ok((buf[1], buf[2]))
}

/// A cursor over a slice that distinguishes "ran out" from "bad".
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Whether running out means "need more" (the slice is a prefix of
    /// the wire) or "invalid" (the slice is a complete, length-delimited
    /// structure).
    short: HelloError,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        let end = self.pos.checked_add(n).ok_or(self.short)?;
        let s = self.buf.get(self.pos..end).ok_or(self.short)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HelloError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Result<usize, HelloError> {
        let b = self.take(3)?;
        Ok((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    fn rest(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
}

/// Parses a ClientHello carried in the first record of `buf`. Only the
/// first record is considered (as HAProxy does): a hello fragmented over
/// several records is reported invalid.
pub fn parse_client_hello(buf: &[u8]) -> Result<ClientHello, HelloError> {
    let record = record_header(buf)?;
    if record.content_type != CONTENT_HANDSHAKE {
        return Err(HelloError::Invalid("not a handshake record"));
    }
    let rec_len = usize::from(record.length);
    if rec_len < 4 {
        return Err(HelloError::Invalid("record too short"));
    }
    let avail = &buf[5..];
    // Check the handshake header as soon as it is visible.
    if let Some(&t) = avail.first() {
        if t != HANDSHAKE_CLIENT_HELLO {
            return Err(HelloError::Invalid("not a ClientHello"));
        }
    }
    if avail.len() >= 4 {
        let hs_len =
            (usize::from(avail[1]) << 16) | (usize::from(avail[2]) << 8) | usize::from(avail[3]);
        if hs_len + 4 > rec_len {
            return Err(HelloError::Invalid("ClientHello spans several records"));
        }
    }
    if avail.len() < rec_len {
        return Err(HelloError::NeedMore);
    }
    let mut r = Reader {
        buf: &avail[..rec_len],
        pos: 0,
        short: HelloError::Invalid("truncated ClientHello"),
    };
    let _hs_type = r.u8()?;
    let hs_len = r.u24()?;
    let mut h = Reader {
        buf: r.take(hs_len)?,
        pos: 0,
        short: HelloError::Invalid("truncated ClientHello"),
    };
    let v = h.take(2)?;
    let version = (v[0], v[1]);
    h.take(32)?; // random
    let sid_len = usize::from(h.u8()?);
    if sid_len > 32 {
        return Err(HelloError::Invalid("session id too long"));
    }
    h.take(sid_len)?;
    let cs_len = usize::from(h.u16()?);
    if cs_len % 2 != 0 {
        return Err(HelloError::Invalid("odd cipher suites length"));
    }
    h.take(cs_len)?;
    let comp_len = usize::from(h.u8()?);
    h.take(comp_len)?;
    let mut hello = ClientHello {
        record,
        version,
        sni: None,
        has_ec_ext: false,
    };
    if h.rest() == 0 {
        return Ok(hello); // no extensions at all (SSLv3 style)
    }
    let ext_len = usize::from(h.u16()?);
    let mut e = Reader {
        buf: h.take(ext_len)?,
        pos: 0,
        short: HelloError::Invalid("truncated extension"),
    };
    while e.rest() > 0 {
        let ty = e.u16()?;
        let len = usize::from(e.u16()?);
        let body = e.take(len)?;
        match ty {
            EXT_SERVER_NAME if hello.sni.is_none() => hello.sni = parse_sni(body)?,
            EXT_SUPPORTED_GROUPS => hello.has_ec_ext = true,
            _ => {}
        }
    }
    Ok(hello)
}

/// The first host_name of a server_name extension body.
fn parse_sni(body: &[u8]) -> Result<Option<String>, HelloError> {
    let mut r = Reader {
        buf: body,
        pos: 0,
        short: HelloError::Invalid("truncated server_name"),
    };
    let list_len = usize::from(r.u16()?);
    let mut l = Reader {
        buf: r.take(list_len)?,
        pos: 0,
        short: HelloError::Invalid("truncated server_name"),
    };
    while l.rest() > 0 {
        let name_type = l.u8()?;
        let len = usize::from(l.u16()?);
        let name = l.take(len)?;
        if name_type == 0 {
            if name.is_empty() {
                return Err(HelloError::Invalid("empty server name"));
            }
            return match std::str::from_utf8(name) {
                Ok(s) if s.is_ascii() => Ok(Some(s.to_string())),
                _ => Err(HelloError::Invalid("server name is not ASCII")),
            };
        }
    }
    Ok(None)
}

/// Builds a minimal ClientHello record for tests and tools: given SNI
/// (if any) and whether to add a supported_groups extension.
pub fn build_client_hello(sni: Option<&str>, ec_ext: bool) -> Vec<u8> {
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let entry_len = 3 + n.len();
        exts.extend_from_slice(&EXT_SERVER_NAME.to_be_bytes());
        exts.extend_from_slice(&((entry_len + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(entry_len as u16).to_be_bytes());
        exts.push(0);
        exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
        exts.extend_from_slice(n);
    }
    if ec_ext {
        exts.extend_from_slice(&EXT_SUPPORTED_GROUPS.to_be_bytes());
        exts.extend_from_slice(&4u16.to_be_bytes());
        exts.extend_from_slice(&2u16.to_be_bytes());
        exts.extend_from_slice(&0x001du16.to_be_bytes()); // x25519
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![HANDSHAKE_CLIENT_HELLO];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![CONTENT_HANDSHAKE, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Decodes a hex string (whitespace ignored); for fixtures and patterns.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL_HELLO: &str = include_str!("acl/testdata/openssl_client_hello.hex");

    #[test]
    fn real_openssl_client_hello() {
        let buf = decode_hex(OPENSSL_HELLO).expect("fixture is hex");
        let h = parse_client_hello(&buf).expect("valid hello");
        assert_eq!(h.sni.as_deref(), Some("a.example"));
        assert!(h.has_ec_ext);
        assert_eq!(h.record.content_type, 22);
        assert_eq!(h.record.version, (3, 1));
        assert_eq!(h.version, (3, 3));
        assert_eq!(hello_type(&buf), Ok(1));
        assert_eq!(record_version(&buf, 16384), Ok((3, 1)));
        // Every strict prefix is "need more", never invalid nor a result.
        for n in 0..buf.len() {
            assert_eq!(
                parse_client_hello(&buf[..n]),
                Err(HelloError::NeedMore),
                "prefix {n}"
            );
        }
    }

    #[test]
    fn synthetic_hellos() {
        let cases: &[(Option<&str>, bool)] = &[
            (Some("a.example"), true),
            (Some("b.example"), false),
            (None, true),
            (None, false),
            (Some("x"), false),
        ];
        for &(sni, ec) in cases {
            let buf = build_client_hello(sni, ec);
            let h = parse_client_hello(&buf).expect("valid");
            assert_eq!(h.sni.as_deref(), sni);
            assert_eq!(h.has_ec_ext, ec);
            // Trailing bytes of a next record do not matter.
            let mut more = buf.clone();
            more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
            assert_eq!(
                parse_client_hello(&more).expect("valid").sni.as_deref(),
                sni
            );
        }
    }

    #[test]
    fn invalid_and_partial_inputs() {
        let good = build_client_hello(Some("a.example"), false);
        let mut bad_hs = good.clone();
        bad_hs[5] = 2; // server hello
        let mut bad_len = good.clone();
        bad_len[8] = bad_len[8].wrapping_add(1); // handshake longer than record
        let mut bad_ext = good.clone();
        let n = bad_ext.len();
        bad_ext[n - 14] = 0xff; // server_name list length too large
        let cases: &[(&[u8], Result<(), HelloError>)] = &[
            (b"", Err(HelloError::NeedMore)),
            (b"\x16", Err(HelloError::NeedMore)),
            (b"\x16\x03\x01\x00", Err(HelloError::NeedMore)),
            (b"G", Err(HelloError::Invalid("unknown record type"))),
            (
                b"GET / HTTP/1.1\r\n",
                Err(HelloError::Invalid("unknown record type")),
            ),
            (
                b"\x16\x02",
                Err(HelloError::Invalid("unsupported record version")),
            ),
            (
                b"\x17\x03\x03\x00\x05hello",
                Err(HelloError::Invalid("not a handshake record")),
            ),
            (
                b"\x16\x03\x01\x00\x02\x01\x00",
                Err(HelloError::Invalid("record too short")),
            ),
            (
                b"\x16\x03\x01\xff\xff",
                Err(HelloError::Invalid("record too long")),
            ),
            (&bad_hs, Err(HelloError::Invalid("not a ClientHello"))),
            (
                &bad_len,
                Err(HelloError::Invalid("ClientHello spans several records")),
            ),
            (&bad_ext, Err(HelloError::Invalid("truncated server_name"))),
            (&good, Ok(())),
        ];
        for (buf, want) in cases {
            assert_eq!(&parse_client_hello(buf).map(|_| ()), want, "{buf:02x?}");
        }
    }

    #[test]
    fn hello_type_table() {
        let cases: &[(&[u8], Result<u8, HelloError>)] = &[
            (b"", Err(HelloError::NeedMore)),
            (b"\x16\x03\x01\x00\x10", Err(HelloError::NeedMore)),
            (
                b"\x16\x03\x01\x00\x10\x01\x00\x00",
                Err(HelloError::NeedMore),
            ),
            (b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", Ok(1)),
            (
                b"\x16\x03\x01\x00\x10\x01\x00\x00\x02",
                Err(HelloError::NeedMore),
            ),
            (b"\x16\x03\x01\x00\x10\x01\x00\x00\x02ab", Ok(1)),
            (b"\x16\x03\x03\x00\x04\x02\x00\x00\x00", Ok(2)),
            // HAProxy reads the byte after any SSLv3+ record header
            (b"\x15\x03\x03\x00\x04\x02\x00\x00\x00", Ok(2)),
            (
                b"\x16\x02\x00\x00\x04\x01\x00\x00\x00",
                Err(HelloError::Invalid("unsupported record version")),
            ),
            (
                b"\x16\x03\x01\x00\x03\x01\x00\x00\x00",
                Err(HelloError::Invalid("record too short")),
            ),
            (b"SSH-2.0", Err(HelloError::Invalid("unknown record type"))),
        ];
        for (buf, want) in cases {
            assert_eq!(&hello_type(buf), want, "{buf:02x?}");
        }
    }

    #[test]
    fn record_version_table() {
        type Row<'a> = (&'a [u8], Result<(u8, u8), HelloError>);
        let cases: &[Row] = &[
            (b"", Err(HelloError::NeedMore)),
            (b"\x16\x03\x01\x00", Err(HelloError::NeedMore)),
            (b"\x16\x03\x01\x00\x02\x01", Err(HelloError::NeedMore)),
            (b"\x16\x03\x01\x00\x02\x01\x00", Ok((3, 1))),
            (b"\x17\x03\x03\x00\x01\x00", Ok((3, 3))),
            (
                b"\x16\x03\x00\x00\x00",
                Err(HelloError::Invalid("bad record length")),
            ),
            (
                b"\x16\x02\x00\x00\x01\x00",
                Err(HelloError::Invalid("unsupported record version")),
            ),
            (
                b"\x80\x2e\x01\x00\x02",
                Err(HelloError::Invalid("unknown record type")),
            ),
        ];
        for (buf, want) in cases {
            assert_eq!(&record_version(buf, 16384), want, "{buf:02x?}");
        }
        // a record longer than the buffer: what fits is enough
        let mut big = vec![0x17, 3, 3, 0x40, 0x00];
        big.resize(100, 0);
        assert_eq!(record_version(&big, 100), Ok((3, 3)));
        assert_eq!(record_version(&big, 16384), Err(HelloError::NeedMore));
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ff 10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
