//! The example playbooks shipped with the crate load, and mean what they say.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::path::PathBuf;

use rampart_playbook::{ActionSpec, FindingFacts, PlaybookSet, Scope, Severity, Step};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/playbooks")
}

#[test]
fn the_examples_load_as_a_set() {
    let set = PlaybookSet::load_dir(dir()).unwrap();
    assert_eq!(set.len(), 2);
    let sim = set.get("sim-in-foreign-imei").unwrap();
    assert_eq!(
        sim.description,
        "SIM in an unauthorised IMEI: disconnect and quarantine"
    );
    let actions: Vec<&ActionSpec> = sim.steps.iter().filter_map(Step::action).collect();
    assert_eq!(
        actions,
        [
            &ActionSpec::RadiusDisconnect,
            &ActionSpec::BrokerDisable,
            &ActionSpec::RegistryQuarantine
        ]
    );
    let facts = FindingFacts {
        kind: "sim_imei_mismatch".into(),
        severity: Severity::High,
        ..FindingFacts::default()
    };
    let names: Vec<&str> = set
        .matching(&facts)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["sim-in-foreign-imei"]);
    let facts = FindingFacts {
        kind: "beaconing".into(),
        severity: Severity::Critical,
        scope: Scope::Host,
        ..FindingFacts::default()
    };
    let names: Vec<&str> = set
        .matching(&facts)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["c2-contact"]);
    // Each example round-trips through its written form.
    for p in set.iter() {
        let text = p.to_toml().unwrap();
        assert_eq!(
            &PlaybookSet::parse_one("again", &text).unwrap(),
            p,
            "{text}"
        );
    }
}
