//! Calls one module's `validate` N times on one fixture's payload (a fresh instance each time, as
//! the policy server does), nothing else: for `perf stat` and `perf record` on the guest alone.
//! `guest_loop MODULE FIXTURE N [minimal]`, `minimal` giving the minimal injector's settings.
//! With `WASM_PERFMAP=1` the runner names the guest's compiled functions for `perf`.
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(name), Some(n)) = (args.next(), args.next(), args.next()) else {
        panic!("usage: guest_loop MODULE FIXTURE N [minimal]");
    };
    let minimal = args.next().as_deref() == Some("minimal");
    let module = sidecar_injector_bench::quiet_module(&path);
    let fixture = sidecar_injector_bench::fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .expect("a fixture");
    let settings = if minimal {
        fixture.minimal_settings()
    } else {
        fixture.settings.clone()
    };
    let payload = sidecar_injector_bench::validate_payload(&fixture.request, &settings);
    let n: usize = n.parse().expect("a count");
    sidecar_injector_bench::time_validate(&module, &payload, n);
}
