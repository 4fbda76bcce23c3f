//! vrrpd against vrrpd in network namespaces (run as root).

mod util;

use std::time::Duration;

use util::*;

const T: Duration = Duration::from_secs(15);

fn master_of(lab: &Lab) -> Vec<usize> {
    lab.holders(VIP)
}

#[test]
fn two_nodes_one_master_and_sigterm_failover() {
    let lab = Lab::new("basic", 2);
    let mut a = lab.vrrpd(0, &format!("{GLOBAL}{}", v2("vif1", "MASTER", 150, "")));
    let mut b = lab.vrrpd(1, &format!("{GLOBAL}{}", v2("vif1", "BACKUP", 100, "")));
    assert!(
        a.wait_log("(vif1) Entering MASTER STATE", 1, T),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(b.wait_log("(vif1) Entering BACKUP STATE", 1, T));
    // Steady state: exactly one master, the VIP only there.
    assert!(
        wait(T, || master_of(&lab) == vec![0]),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(holds_for(Duration::from_secs(3), || master_of(&lab) == vec![0]));
    assert_eq!(
        b.count("Entering MASTER STATE"),
        0,
        "{}",
        dump_logs(&[&a, &b])
    );
    // Dumps.
    let data = a.dump_file(libc::SIGUSR1, "vrrpd.data");
    assert!(data.contains("State = MASTER"), "{data}");
    let json = a.dump_file(libc::SIGUSR1, "vrrpd.json");
    assert!(json.contains("\"state\": \"MASTER\""), "{json}");
    let stats = b.dump_file(libc::SIGUSR2, "vrrpd.stats");
    assert!(stats.contains("Received:"), "{stats}");
    // SIGTERM of the master: priority 0, VIP removed, exit 0; b takes over.
    let st = a.stop().expect("exit status");
    assert!(st.success(), "{st:?}\n{}", dump_logs(&[&a]));
    assert!(!lab.has(0, VIP));
    assert!(
        b.wait_log("(vif1) Entering MASTER STATE", 1, T),
        "{}",
        dump_logs(&[&a, &b])
    );
    assert!(b
        .log_text()
        .contains("Backup received priority 0 advertisement"));
    assert!(wait(T, || master_of(&lab) == vec![1]));
    assert!(b.stop().expect("exit").success());
    assert!(lab.holders(VIP).is_empty());
    if std::env::var_os("VRRPD_TEST_LOGS").is_some() {
        eprintln!("{}", dump_logs(&[&a, &b]));
    }
}
