//! The lab's topology file (`deploy/lab/*.yaml`): hosts, their roles and
//! addresses, the VIPs; parsed with serde_yaml into typed structs and
//! validated before anything is created.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, TopologyError> {
    Err(TopologyError::Invalid(msg.into()))
}

/// What a host does in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A web server answering every request with its `text`.
    Web,
    /// A load balancer: the proxy and the VRRP daemon with the configs of
    /// its `config` directory.
    Lb,
    /// A host with no daemon, from which the demo and the tests request
    /// the VIP.
    Client,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Host name (also the bridge port's name: 1 to 12 characters of
    /// `[a-z0-9]`, starting with a letter).
    pub name: String,
    pub role: Role,
    pub address: Ipv4Addr,
    /// Web servers: the page's text.
    #[serde(default)]
    pub text: Option<String>,
    /// Web servers: the port (80 by default).
    #[serde(default)]
    pub port: Option<u16>,
    /// Web servers: run this command instead of the built-in server (for
    /// example nginx for benchmarks); it must serve `port` on `address`.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Load balancers: the directory with `haproxy.cfg` and
    /// `keepalived.conf`, relative to the topology file.
    #[serde(default)]
    pub config: Option<PathBuf>,
}

impl Node {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(80)
    }
}

fn default_interface() -> String {
    "eth0".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The hosts' network, e.g. `10.0.2.0/24`.
    pub subnet: String,
    /// Name of each host's interface (the seed's `enp0s3`).
    #[serde(default = "default_interface")]
    pub interface: String,
    /// The virtual addresses the VRRP instances float (the demo requests
    /// the first; active-active uses all).
    pub vips: Vec<Ipv4Addr>,
    /// Which load balancer holds each VIP when all is well (the VRRP
    /// configs' highest priority); `up` and the demo wait for it.
    #[serde(default)]
    pub masters: BTreeMap<Ipv4Addr, String>,
    pub nodes: Vec<Node>,
    /// Directory the file was read from (config paths are relative to it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `10.0.2.0/24` -> (network, prefix length).
pub fn parse_subnet(s: &str) -> Result<(Ipv4Addr, u8), TopologyError> {
    let Some((a, l)) = s.split_once('/') else {
        return invalid(format!("subnet '{s}' must be ADDRESS/LENGTH"));
    };
    let Ok(addr) = a.parse::<Ipv4Addr>() else {
        return invalid(format!("subnet '{s}': bad address"));
    };
    let len: u8 = match l.parse() {
        Ok(n) if (8..=30).contains(&n) => n,
        _ => return invalid(format!("subnet '{s}': length must be 8 to 30")),
    };
    Ok((addr, len))
}

fn in_subnet(net: Ipv4Addr, len: u8, a: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - u32::from(len));
    u32::from(net) & mask == u32::from(a) & mask
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 12
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 15
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
}

impl Topology {
    /// Parse and validate YAML text; `base_dir` is where config paths are
    /// relative to (not checked here, see [`Topology::check_files`]).
    pub fn parse(text: &str, path: &Path) -> Result<Topology, TopologyError> {
        let mut t: Topology = serde_yaml::from_str(text).map_err(|e| TopologyError::Yaml {
            path: path.to_path_buf(),
            source: e,
        })?;
        t.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        t.validate()?;
        Ok(t)
    }

    /// Read, parse, validate, and check that every load balancer's config
    /// files exist.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let t = Topology::parse(&text, path)?;
        t.check_files()?;
        Ok(t)
    }

    pub fn prefix_len(&self) -> u8 {
        parse_subnet(&self.subnet).map(|(_, l)| l).unwrap_or(24)
    }

    /// The structural checks: names, roles, addresses.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let (net, len) = parse_subnet(&self.subnet)?;
        if !valid_ifname(&self.interface) {
            return invalid(format!(
                "interface '{}' is not a valid name",
                self.interface
            ));
        }
        if self.nodes.is_empty() {
            return invalid("no nodes");
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for n in &self.nodes {
            if !valid_name(&n.name) {
                return invalid(format!(
                    "node name '{}': 1 to 12 characters a-z 0-9, starting with a letter",
                    n.name
                ));
            }
            if n.name == "sw" {
                return invalid("node name 'sw' is reserved for the switch");
            }
            if !names.insert(n.name.as_str()) {
                return invalid(format!("node '{}' defined twice", n.name));
            }
            if !in_subnet(net, len, n.address) {
                return invalid(format!(
                    "node {}: address {} is outside {}",
                    n.name, n.address, self.subnet
                ));
            }
            if !addrs.insert(n.address) {
                return invalid(format!("node {}: address {} used twice", n.name, n.address));
            }
            match n.role {
                Role::Web => {
                    if n.text.is_none() && n.command.is_none() {
                        return invalid(format!(
                            "web node {} needs a 'text' or a 'command'",
                            n.name
                        ));
                    }
                    if n.command.as_ref().is_some_and(|c| c.is_empty()) {
                        return invalid(format!("web node {}: empty 'command'", n.name));
                    }
                    if n.config.is_some() {
                        return invalid(format!("web node {}: 'config' is for lb nodes", n.name));
                    }
                }
                Role::Lb => {
                    if n.config.is_none() {
                        return invalid(format!("lb node {} needs a 'config' directory", n.name));
                    }
                    if n.text.is_some() || n.port.is_some() {
                        return invalid(format!(
                            "lb node {}: 'text'/'port' are for web nodes",
                            n.name
                        ));
                    }
                }
                Role::Client => {
                    if n.text.is_some() || n.port.is_some() || n.config.is_some() {
                        return invalid(format!(
                            "client node {} takes no text/port/config",
                            n.name
                        ));
                    }
                }
            }
        }
        if self.vips.is_empty() {
            return invalid("no vips");
        }
        for v in &self.vips {
            if !in_subnet(net, len, *v) {
                return invalid(format!("vip {v} is outside {}", self.subnet));
            }
            if !addrs.insert(*v) {
                return invalid(format!("vip {v} is also a node's address or listed twice"));
            }
        }
        if !self.nodes.iter().any(|n| n.role == Role::Lb) {
            return invalid("no lb node");
        }
        for (vip, m) in &self.masters {
            if !self.vips.contains(vip) {
                return invalid(format!("masters: {vip} is not one of the vips"));
            }
            if !self.node(m).is_some_and(|n| n.role == Role::Lb) {
                return invalid(format!("masters: {vip}: '{m}' is not an lb node"));
            }
        }
        Ok(())
    }

    /// Every load balancer's `haproxy.cfg` and `keepalived.conf` exist.
    pub fn check_files(&self) -> Result<(), TopologyError> {
        for n in self.nodes_with(Role::Lb) {
            for f in ["haproxy.cfg", "keepalived.conf"] {
                let p = self.config_file(n, f);
                if !p.is_file() {
                    return invalid(format!("lb node {}: {} not found", n.name, p.display()));
                }
            }
        }
        Ok(())
    }

    /// A load balancer's config file `file` (e.g. `haproxy.cfg`).
    pub fn config_file(&self, n: &Node, file: &str) -> PathBuf {
        let dir = n.config.clone().unwrap_or_else(|| PathBuf::from(&n.name));
        self.base_dir.join(dir).join(file)
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn nodes_with(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.role == role)
    }

    /// The first client node (the demo's vantage point).
    pub fn client(&self) -> Option<&Node> {
        self.nodes_with(Role::Client).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
name: seed
subnet: 10.0.2.0/24
interface: enp0s3
vips: [10.0.2.100]
masters: {10.0.2.100: lb1}
nodes:
  - {name: web1, role: web, address: 10.0.2.6, text: "Hello from web server 1"}
  - {name: web2, role: web, address: 10.0.2.7, text: "Hello from web server 2"}
  - {name: lb1, role: lb, address: 10.0.2.4, config: lb1}
  - {name: lb2, role: lb, address: 10.0.2.5, config: lb2}
  - {name: client, role: client, address: 10.0.2.10}
"#;

    fn parse(s: &str) -> Result<Topology, TopologyError> {
        Topology::parse(s, Path::new("/x/seed.yaml"))
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(_) => panic!("accepted:\n{s}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_the_seed() {
        let t = parse(SEED).unwrap();
        assert_eq!(t.interface, "enp0s3");
        assert_eq!(t.prefix_len(), 24);
        assert_eq!(t.nodes.len(), 5);
        assert_eq!(t.client().unwrap().name, "client");
        assert_eq!(t.nodes_with(Role::Lb).count(), 2);
        assert_eq!(
            t.config_file(t.node("lb2").unwrap(), "keepalived.conf"),
            Path::new("/x/lb2/keepalived.conf")
        );
        assert_eq!(t.node("web1").unwrap().port(), 80);
        assert_eq!(
            t.masters
                .get(&Ipv4Addr::new(10, 0, 2, 100))
                .map(String::as_str),
            Some("lb1")
        );
    }

    #[test]
    fn rejects_bad_topologies() {
        assert!(err(&SEED.replace("10.0.2.7", "10.0.3.7")).contains("outside"));
        assert!(err(&SEED.replace("10.0.2.7", "10.0.2.6")).contains("used twice"));
        assert!(err(&SEED.replace("[10.0.2.100]", "[10.0.2.4]")).contains("vip"));
        assert!(err(&SEED.replace("[10.0.2.100]", "[]")).contains("no vips"));
        assert!(err(&SEED.replace("name: web2", "name: web1")).contains("twice"));
        assert!(err(&SEED.replace("name: web2", "name: Web-2")).contains("node name"));
        assert!(err(&SEED.replace(", config: lb2", "")).contains("needs a 'config'"));
        assert!(err(&SEED.replace(", text: \"Hello from web server 2\"", "")).contains("text"));
        assert!(err(&SEED.replace("/24", "/33")).contains("length"));
        assert!(
            err(&SEED.replace("interface: enp0s3", "interface: a-very-long-interface"))
                .contains("interface")
        );
        assert!(err(&SEED.replace("role: client", "role: router")).contains("seed.yaml"));
        assert!(err(&SEED.replace("name: seed", "name: seed\nbogus: 1")).contains("bogus"));
        assert!(
            err(&SEED.replace("{10.0.2.100: lb1}", "{10.0.2.100: web1}")).contains("not an lb")
        );
        assert!(err(&SEED.replace("{10.0.2.100: lb1}", "{10.0.2.101: lb1}")).contains("not one of"));
        let no_lb = "name: x\nsubnet: 10.0.2.0/24\nvips: [10.0.2.100]\nnodes:\n  - {name: c, role: client, address: 10.0.2.10}\n";
        assert!(err(no_lb).contains("no lb"));
    }

    #[test]
    fn web_command_instead_of_text() {
        let t = parse(&SEED.replace(
            "text: \"Hello from web server 2\"",
            "command: [nginx, -g, 'daemon off;']",
        ))
        .unwrap();
        assert_eq!(
            t.node("web2").unwrap().command.as_ref().unwrap()[0],
            "nginx"
        );
        assert!(
            err(&SEED.replace("text: \"Hello from web server 2\"", "command: []"))
                .contains("empty")
        );
    }

    #[test]
    fn default_interface_is_eth0() {
        let t = parse(&SEED.replace("interface: enp0s3\n", "")).unwrap();
        assert_eq!(t.interface, "eth0");
    }

    #[test]
    fn shipped_topologies_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/lab");
        for f in ["seed.yaml", "active-active.yaml"] {
            let t = Topology::load(&dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(t.client().is_some(), "{f}");
        }
    }
}
