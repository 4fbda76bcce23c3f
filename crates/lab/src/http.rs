//! A tiny HTTP/1.1 server (the lab's web servers, instead of Apache) and
//! client (the demo's curl), plus the prober that requests the VIP every
//! 50 ms from a client namespace and measures outages.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Serve `text` (plus a newline) to every GET/HEAD on `listen`, keep-alive
/// aware; runs forever.
pub fn serve(listen: SocketAddr, text: &str) -> io::Result<()> {
    // Show as `httpd` to ps/killall on the web hosts.
    let _ = nix::sys::prctl::set_name(c"httpd");
    let listener = TcpListener::bind(listen)?;
    let body: Arc<str> = Arc::from(format!("{text}\n"));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let body = body.clone();
        std::thread::spawn(move || {
            let _ = handle(conn, &body);
        });
    }
    Ok(())
}

fn handle(conn: TcpStream, body: &str) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request = line.trim_end().to_string();
        if request.is_empty() {
            continue;
        }
        let http10 = request.ends_with("HTTP/1.0");
        let mut close = http10;
        let mut keep = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("connection") {
                    let v = v.trim();
                    close |= v.eq_ignore_ascii_case("close");
                    keep |= v.eq_ignore_ascii_case("keep-alive");
                }
            }
        }
        if http10 && keep {
            close = false;
        }
        let head = request.starts_with("HEAD ");
        let (status, text) = if request.starts_with("GET ") || head {
            ("200 OK", body)
        } else {
            close = true;
            ("405 Method Not Allowed", "method not allowed\n")
        };
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if !head {
            out.push_str(text);
        }
        w.write_all(out.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET /` on `addr` with `Connection: close`, everything within
/// `timeout`-ish (connect, then each read).
pub fn get(addr: SocketAddr, timeout: Duration) -> io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: lab\r\nConnection: close\r\n\r\n",
            addr.ip()
        )
        .as_bytes(),
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// Parse a complete `Connection: close` response.
pub fn parse_response(buf: &[u8]) -> io::Result<Response> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "empty reply from server",
        ));
    }
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(bad("truncated response"));
    };
    let status_line = head.lines().next().unwrap_or("");
    let mut words = status_line.split_whitespace();
    if !words.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(bad("not an HTTP response"));
    }
    let status = words
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// Timeout of each prober request (connect, then each read): a lost SYN
/// is retransmitted after 1 s, so a longer wait would only hide outages.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// One request of a [`Prober`].
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it started, since the prober started.
    pub at: Duration,
    /// The body's first line, or the error.
    pub result: Result<String, String>,
}

/// Requests `GET /` on a target every `interval` from inside a network
/// namespace, on its own thread, until stopped.
pub struct Prober {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    /// Start probing `target` from the namespace at `netns` (a path like
    /// `/run/netns/NAME`).
    pub fn start(netns: PathBuf, target: SocketAddr, interval: Duration) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s2, v2) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            if let Err(e) = testsupport::netns::enter_netns_thread(&netns) {
                if let Ok(mut v) = v2.lock() {
                    v.push(Sample {
                        at: Duration::ZERO,
                        result: Err(format!("cannot enter {}: {e}", netns.display())),
                    });
                }
                return;
            }
            // One request per tick, each on its own thread (threads inherit
            // this thread's network namespace), so a request hanging on a
            // lost SYN does not stop the sampling.
            let mut inflight: Vec<JoinHandle<()>> = Vec::new();
            let mut next = Instant::now();
            while !s2.load(Ordering::Relaxed) {
                let at = t0.elapsed();
                let v3 = v2.clone();
                inflight.push(std::thread::spawn(move || {
                    let result = match get(target, REQUEST_TIMEOUT) {
                        Ok(r) if r.status == 200 => {
                            Ok(r.body.lines().next().unwrap_or("").to_string())
                        }
                        Ok(r) => Err(format!("HTTP {}", r.status)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            Err("timed out".to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    if let Ok(mut v) = v3.lock() {
                        v.push(Sample { at, result });
                    }
                }));
                inflight.retain(|h| !h.is_finished());
                next += interval;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            for h in inflight {
                let _ = h.join();
            }
        });
        Prober {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// A copy of the samples so far (completed requests), in start order.
    pub fn samples(&self) -> Vec<Sample> {
        let mut v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort_by_key(|s| s.at);
        v
    }

    /// Number of successful samples so far.
    pub fn successes(&self) -> usize {
        self.samples().iter().filter(|s| s.result.is_ok()).count()
    }

    /// Stop and return all samples.
    pub fn stop(mut self) -> Vec<Sample> {
        self.halt();
        self.samples()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What a client saw during a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub requests: usize,
    pub failed: usize,
    /// From the first failed request to the first success after the last
    /// failure (zero when nothing failed).
    pub window: Duration,
    pub first_error: Option<String>,
}

/// Summarise samples (see [`Outage`]).
pub fn outage(samples: &[Sample]) -> Outage {
    let failed = samples.iter().filter(|s| s.result.is_err()).count();
    let first_fail = samples.iter().position(|s| s.result.is_err());
    let last_fail = samples.iter().rposition(|s| s.result.is_err());
    let window = match (first_fail, last_fail) {
        (Some(f), Some(l)) => {
            let end = samples
                .get(l + 1)
                .map(|s| s.at)
                .unwrap_or_else(|| samples[l].at);
            end.saturating_sub(samples[f].at)
        }
        _ => Duration::ZERO,
    };
    Outage {
        requests: samples.len(),
        failed,
        window,
        first_error: first_fail.and_then(|i| samples[i].result.clone().err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n").unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: "hi\n".into()
            }
        );
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn server_and_client_on_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        std::thread::spawn(move || serve(addr, "Hello from web server 1"));
        let ok = testsupport::netns::wait_until(Duration::from_secs(5), || {
            get(addr, Duration::from_secs(1)).is_ok()
        });
        assert!(ok);
        let r = get(addr, Duration::from_secs(1)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "Hello from web server 1\n");
        // keep-alive: two requests on one connection
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        assert_eq!(all.matches("Hello from web server 1").count(), 2);
    }

    fn s(ms: u64, ok: bool) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            result: if ok {
                Ok("x".into())
            } else {
                Err("refused".into())
            },
        }
    }

    #[test]
    fn outage_window() {
        let o = outage(&[s(0, true), s(50, false), s(100, false), s(150, true)]);
        assert_eq!(o.failed, 2);
        assert_eq!(o.requests, 4);
        assert_eq!(o.window, Duration::from_millis(100));
        assert_eq!(o.first_error.as_deref(), Some("refused"));
        let o = outage(&[s(0, true), s(50, true)]);
        assert_eq!((o.failed, o.window), (0, Duration::ZERO));
    }
}
