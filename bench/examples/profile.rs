//! Runs the native core on one fixture in a loop, for a profiler:
//! `cargo run --release --example profile -- FIXTURE [ITERATIONS]`, or writes the fixture's
//! `validate` payload to a file: `... -- FIXTURE --dump PATH`. Only the loop calls
//! `sidecar_injector::admission::evaluate`, so `valgrind --tool=callgrind
//! --toggle-collect='sidecar_injector::admission::evaluate'` counts the evaluations alone.
fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "typical".to_string());
    let fixture = sidecar_injector_bench::fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    let payload = fixture.payload();
    match args.next().as_deref() {
        Some("--dump") => {
            let path = args.next().expect("--dump PATH");
            std::fs::write(&path, &payload).expect("the payload written");
        }
        iterations => {
            let iterations: usize = iterations.and_then(|n| n.parse().ok()).unwrap_or(1000);
            for _ in 0..iterations {
                std::hint::black_box(sidecar_injector::admission::evaluate(&payload));
            }
        }
    }
}
