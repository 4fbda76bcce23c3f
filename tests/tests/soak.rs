//! A 2-minute soak (`lab soak`'s short variant): the seed's lab under a
//! bounded client load (probe, curl loop, wrk stream, all inside the
//! lab's namespaces), one fault of each kind every 10 s. Asserts what is
//! deterministic: no daemon panicked or restarted on its own, no fd or
//! thread growth of the daemons that lived through it, no split brain
//! after a heal. The outage figures and the RSS are printed.

use std::time::{Duration, Instant};

use integration::{skip_unless_root, E2e};
use lab::soak::{FaultKind, SoakOptions};

#[test]
fn soak_two_minutes_no_leak_no_split_brain() {
    if skip_unless_root() {
        return;
    }
    let t0 = Instant::now();
    let e = E2e::up("seed.yaml").expect("lab up");
    let opts = SoakOptions {
        duration: Duration::from_secs(60),
        period: Duration::from_secs(10),
        min_faults: FaultKind::ALL.len(),
    };
    let report = lab::soak::run(&e.lab, &opts, &mut |l| e.note(l)).expect("soak");
    eprintln!("{}", report.markdown());
    e.note(&format!("soak test took {} s", t0.elapsed().as_secs()));
    for k in FaultKind::ALL {
        assert!(
            report.faults.iter().any(|r| r.kind == k && r.count > 0),
            "every fault kind ran once at least: {k:?}"
        );
    }
    assert!(
        report.panics_and_restarts.is_empty(),
        "no panic or restart: {:?}",
        report.panics_and_restarts
    );
    assert!(
        report.fd_thread_growth().is_empty(),
        "no fd or thread growth: {:?}",
        report.fd_thread_growth()
    );
    assert!(
        report.split_brain_after_heal().is_empty(),
        "no split brain after a heal: {:?}",
        report.split_brain_after_heal()
    );
}
