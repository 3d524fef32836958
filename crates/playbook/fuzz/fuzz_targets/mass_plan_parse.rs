//! Mass plans arrive as API bodies (JSON) or files (TOML): any text must parse or be refused,
//! never panic; whatever parses must give a dry run for any target count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_playbook::mass::MassPlan;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for plan in [
        MassPlan::from_json("fuzz.json", text, None),
        MassPlan::from_toml("fuzz.toml", text, None),
    ]
    .into_iter()
    .flatten()
    {
        let _ = plan.dry_run(1_000_003);
        let _ = plan.dry_run(0);
        let _ = plan.undo_plan();
    }
});
