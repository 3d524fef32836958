//! Playbooks arrive as files and API uploads: any text must parse or be refused with
//! positioned errors, never panic; whatever parses must write out and read back equal, and
//! run its dry run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_playbook::{PlaybookSet, Target, plan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match PlaybookSet::parse_one("fuzz.toml", text) {
        Ok(playbook) => {
            let written = playbook.to_toml().expect("parsed playbooks serialise");
            let again =
                PlaybookSet::parse_one("again.toml", &written).expect("written form parses");
            assert_eq!(again, playbook);
            let _ = plan(&playbook, &[Target::Host([10, 0, 0, 1].into())]);
        }
        Err(errors) => {
            assert!(!errors.errors().is_empty());
            for e in errors.errors() {
                assert!(
                    e.line
                        .is_none_or(|l| l >= 1 && l <= text.lines().count() + 1)
                );
                let _ = e.to_string();
            }
        }
    }
});
