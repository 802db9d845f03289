//! Prints one part of a benchmark fixture as JSON, for the run in the real policy-server
//! (`scripts/bench-policy-server.sh`): `cargo run --release --example fixture -- NAME PART`, PART
//! being `review` (the AdmissionReview the API server would post), `settings` (sidecar-injector's)
//! or `minimal-settings` (the minimal injector's: the template rendered for the fixture's Pod).
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(part)) = (args.next(), args.next()) else {
        panic!("usage: fixture NAME review|settings|minimal-settings");
    };
    let fixture = sidecar_injector_bench::fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let value = match part.as_str() {
        "review" => serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": fixture.request,
        }),
        "settings" => fixture.settings,
        "minimal-settings" => fixture.minimal_settings(),
        other => panic!("no part {other}: review, settings or minimal-settings"),
    };
    println!("{value}");
}
