//! Logging to stderr, friendly to journald.
//!
//! Under systemd (`JOURNAL_STREAM` set) each line is `<N>message`, where `N`
//! is the syslog severity: journald strips the prefix and stores the
//! priority, so `journalctl -p warning` works. No timestamp (the journal has
//! one) and no colours. On a terminal: `timestamp LEVEL message`.
//!
//! tracing has five levels; syslog has eight. An event may carry a field
//! `prio` (0..=7) to choose the severity itself, e.g. HAProxy logs
//! "backend X has no server available!" at emerg:
//! `tracing::error!(prio = common::log::EMERG, "backend {} has no server available!", name)`.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use jiff::tz::Offset;
use jiff::Timestamp;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub const EMERG: u8 = 0;
pub const ALERT: u8 = 1;
pub const CRIT: u8 = 2;
pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// Syslog severity for a tracing level.
pub fn level_to_prio(level: &Level) -> u8 {
    match *level {
        Level::ERROR => ERR,
        Level::WARN => WARNING,
        Level::INFO => INFO,
        Level::DEBUG | Level::TRACE => DEBUG,
    }
}

/// Name of a syslog severity, as HAProxy prints them.
pub fn prio_name(prio: u8) -> &'static str {
    match prio {
        EMERG => "emerg",
        ALERT => "alert",
        CRIT => "crit",
        ERR => "err",
        WARNING => "warning",
        NOTICE => "notice",
        INFO => "info",
        _ => "debug",
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    prio: Option<u8>,
    rest: String,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "prio" {
            self.prio = u8::try_from(value).ok().map(|p| p.min(7));
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "prio" {
            self.prio = u8::try_from(value).ok().map(|p| p.min(7));
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

/// The event formatter (public so that tests can build a subscriber on it).
pub struct SyslogFormat {
    pub journal: bool,
    pub program: &'static str,
}

impl<S, N> FormatEvent<S, N> for SyslogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let prio = f
            .prio
            .unwrap_or_else(|| level_to_prio(event.metadata().level()));
        if self.journal {
            writeln!(writer, "<{}>{}{}", prio, f.message, f.rest)
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            writeln!(
                writer,
                "{} {}[{}]: [{}] {}{}",
                format_utc(now.as_secs(), now.subsec_millis()),
                self.program,
                std::process::id(),
                prio_name(prio).to_uppercase(),
                f.message,
                f.rest
            )
        }
    }
}

/// The UTC calendar time `secs` after the epoch (clamped to jiff's range,
/// years -9999..=9999).
pub fn utc_datetime(secs: i64) -> jiff::civil::DateTime {
    let ts = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    Offset::UTC.to_datetime(ts)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc(secs: u64, millis: u32) -> String {
    let dt = utc_datetime(i64::try_from(secs).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        millis
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let d = utc_datetime(days.saturating_mul(86_400)).date();
    (
        i64::from(d.year()),
        u32::from(d.month().unsigned_abs()),
        u32::from(d.day().unsigned_abs()),
    )
}

/// True when stderr goes to the journal (systemd sets `JOURNAL_STREAM`).
pub fn journal_mode() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() && !std::io::stderr().is_terminal()
}

/// Install the global subscriber. `default_filter` is used unless `RUST_LOG`
/// is set (e.g. `"info"`, or `"debug"` for `-D`/`-d`).
pub fn init(program: &'static str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(SyslogFormat {
            journal: journal_mode(),
            program,
        })
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_prefix_and_prio_override() {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .event_format(SyslogFormat {
                journal: true,
                program: "t",
            })
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::warn!("Server web-servers/web1 is DOWN");
            tracing::error!(prio = EMERG, "backend web-servers has no server available!");
            tracing::info!(vrid = 51, "(vif1) Entering MASTER STATE");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "<4>Server web-servers/web1 is DOWN\n<0>backend web-servers has no server available!\n<6>(vif1) Entering MASTER STATE vrid=51\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_795_653_000, 5), "2026-11-26T00:30:00.005Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
