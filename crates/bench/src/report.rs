//! Median and the markdown table with ratios.

use std::fmt::Write as _;

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

pub struct Row {
    pub name: String,
    pub unit: String,
    pub higher_better: bool,
    pub direct: Option<f64>,
    pub haproxy: Option<f64>,
    pub proxyd: Option<f64>,
    /// The second proxyd build (`--alt`), when given.
    pub alt: Option<f64>,
}

pub struct Report {
    pub rows: Vec<Row>,
    pub reps: usize,
    pub duration: u32,
    pub conns: u32,
    pub threads: u32,
    pub bulk_mib: u64,
    pub idle: usize,
    pub has_alt: bool,
    pub haproxy_version: String,
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Medians of {} repetitions (proxies alternate order each repetition); wrk -t{} -c{} -d{}s; bulk object {} MiB; {} idle connections.",
            self.reps, self.threads, self.conns, self.duration, self.bulk_mib, self.idle
        );
        let _ = writeln!(
            s,
            "Reference: {}. Client, proxy and nginx backend share the machine's cores.\n",
            self.haproxy_version
        );
        let (alt_head, alt_sep) = if self.has_alt {
            (" proxyd (alt) | alt/proxyd |", "---|---|")
        } else {
            ("", "")
        };
        let _ = writeln!(
            s,
            "| metric | unit | direct | HAProxy | proxyd | proxyd/HAProxy | better | proxyd/direct |{alt_head}"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|{alt_sep}");
        for r in &self.rows {
            let better = match (r.proxyd, r.haproxy) {
                (Some(p), Some(h)) => {
                    if (r.higher_better && p > h) || (!r.higher_better && p < h) {
                        "proxyd"
                    } else {
                        "HAProxy"
                    }
                }
                _ => "-",
            };
            let alt = if self.has_alt {
                format!(" {} | {} |", fmt(r.alt), ratio(r.alt, r.proxyd))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |{alt}",
                r.name,
                r.unit,
                fmt(r.direct),
                fmt(r.haproxy),
                fmt(r.proxyd),
                ratio(r.proxyd, r.haproxy),
                better,
                ratio(r.proxyd, r.direct)
            );
        }
        s.push_str(&self.bottleneck_note());
        s
    }

    /// Say when the backend rather than the proxy limits a figure.
    fn bottleneck_note(&self) -> String {
        let get = |name: &str| self.rows.iter().find(|r| r.name.starts_with(name));
        let mut s = String::new();
        if let Some(r) = get("backend (nginx) CPU") {
            let busiest = [r.haproxy, r.proxyd, r.alt]
                .into_iter()
                .flatten()
                .fold(0.0f64, f64::max);
            // nginx runs one worker: it saturates at one core.
            let _ = writeln!(
                s,
                "\nBackend check: nginx (one worker, so at most 1 core) used {} cores when wrk hit it directly and at most {busiest:.2} behind a proxy{}.",
                fmt(r.direct),
                if busiest >= 0.9 {
                    ": the backend may limit the proxied keep-alive figures"
                } else {
                    ", so it was not the bottleneck of the proxied runs"
                }
            );
        }
        if let Some(r) = get("wrk socket errors") {
            let any = [r.direct, r.haproxy, r.proxyd, r.alt]
                .into_iter()
                .flatten()
                .any(|e| e > 0.0);
            let _ = writeln!(
                s,
                "{}",
                if any {
                    "wrk reported socket errors or non-2xx responses (see the errors row): those figures count failures."
                } else {
                    "wrk reported no socket errors and no non-2xx responses."
                }
            );
        }
        s
    }
}

/// The header of a report file: date, command and machine.
pub fn provenance(machine: &str, command: &str) -> String {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "- date: {date}\n- command: `{command}`\n- machine: {machine}; client (wrk/curl), proxies and backend (nginx) all share these cores, so absolute figures move with the load; the ratios within one interleaved run are what counts.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn table_has_ratios() {
        let r = Report {
            rows: vec![Row {
                name: "keep-alive requests/s".into(),
                unit: "req/s".into(),
                higher_better: true,
                direct: Some(40000.0),
                haproxy: Some(20000.0),
                proxyd: Some(22000.0),
                alt: None,
            }],
            reps: 3,
            duration: 10,
            conns: 50,
            threads: 2,
            bulk_mib: 1000,
            idle: 10000,
            has_alt: false,
            haproxy_version: "HAProxy version 2.6".into(),
        };
        let md = r.markdown();
        assert!(md.contains("| 1.10x | proxyd | 0.55x |"), "{md}");
    }

    #[test]
    fn alt_columns_and_backend_note() {
        let row = |name: &str, d, h, p, a| Row {
            name: name.into(),
            unit: "x".into(),
            higher_better: true,
            direct: d,
            haproxy: h,
            proxyd: p,
            alt: a,
        };
        let r = Report {
            rows: vec![
                row(
                    "bulk transfer",
                    Some(1000.0),
                    Some(500.0),
                    Some(450.0),
                    Some(900.0),
                ),
                row(
                    "backend (nginx) CPU during keep-alive run",
                    Some(0.6),
                    Some(0.4),
                    Some(0.5),
                    Some(0.95),
                ),
                row("wrk socket errors", Some(0.0), Some(0.0), Some(3.0), None),
            ],
            reps: 1,
            duration: 1,
            conns: 1,
            threads: 1,
            bulk_mib: 1,
            idle: 1,
            has_alt: true,
            haproxy_version: String::new(),
        };
        let md = r.markdown();
        assert!(md.contains("| 900 | 2.00x |"), "{md}");
        assert!(md.contains("the backend may limit"), "{md}");
        assert!(md.contains("reported socket errors"), "{md}");
    }
}
