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
}

pub struct Report {
    pub rows: Vec<Row>,
    pub reps: usize,
    pub duration: u32,
    pub conns: u32,
    pub threads: u32,
    pub bulk_mib: u64,
    pub idle: usize,
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
        let _ = writeln!(
            s,
            "| metric | unit | direct | HAProxy | proxyd | proxyd/HAProxy | better | proxyd/direct |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
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
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
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
        s
    }
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
            }],
            reps: 3,
            duration: 10,
            conns: 50,
            threads: 2,
            bulk_mib: 1000,
            idle: 10000,
            haproxy_version: "HAProxy version 2.6".into(),
        };
        let md = r.markdown();
        assert!(md.contains("| 1.10x | proxyd | 0.55x |"), "{md}");
    }
}
