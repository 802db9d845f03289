//! The compiled module as the policy server runs it: for every request a fresh instance of the
//! pre-compiled module (instantiate, `wapc_init`, `validate`), then the JSONPatch computed from its
//! answer. Each fixture is evaluated by sidecar-injector and by the no-op baseline module in the
//! same run; the ratio of their medians is the figure we track, absolute times being noisy.
//!
//! The "guest" columns time the guest's `validate` call alone (a fresh instance included): what the
//! module costs, without the policy server's own work around it (serializing the request, then
//! parsing the mutated Pod and diffing it into a JSONPatch, which no-op policies never pay).
//!
//! POLICY_WASM and BASELINE_WASM name the modules (defaults: policy.wasm, bench/baseline.wasm).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use policy_runner::PolicyModule;
use serde_json::Value;
use sidecar_injector_bench::{Fixture, fixtures, root};

/// Time spent measuring each fixture on each module, and the bounds on the number of requests.
const BUDGET: Duration = Duration::from_millis(1500);
const MIN_REQUESTS: usize = 25;
const MAX_REQUESTS: usize = 3000;

struct Timing {
    median: Duration,
    p99: Duration,
    requests: usize,
}

fn module(variable: &str, default: &str) -> PolicyModule {
    let path = std::env::var_os(variable).map_or_else(|| root().join(default), PathBuf::from);
    PolicyModule::from_file(&path)
        .unwrap_or_else(|e| panic!("{}: {e:#} (run `make bench`)", path.display()))
        .without_log_output()
}

/// Times `run` over fresh requests, after two to warm up.
fn time<T>(run: impl Fn() -> T) -> Timing {
    for _ in 0..2 {
        std::hint::black_box(run());
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MAX_REQUESTS && (times.len() < MIN_REQUESTS || start.elapsed() < BUDGET) {
        let begin = Instant::now();
        std::hint::black_box(run());
        times.push(begin.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Timing {
        median: at(0.5),
        p99: at(0.99),
        requests: times.len(),
    }
}

/// The whole evaluation as the policy server does it, and the guest's call alone.
fn measure(module: &PolicyModule, fixture: &Fixture) -> (Timing, Timing, Value) {
    let evaluate = || {
        module
            .evaluate(&fixture.settings, &fixture.request)
            .expect("an evaluation")
    };
    let response = evaluate();
    let payload = fixture.payload();
    let whole = time(evaluate);
    let guest = time(|| module.call("validate", &payload).expect("a guest answer"));
    (whole, guest, response)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn main() {
    let policy = module("POLICY_WASM", "policy.wasm");
    let baseline = module("BASELINE_WASM", "bench/baseline.wasm");
    println!(
        "\n{:<11} {:>9} {:>11} {:>10} {:>11} {:>7} {:>10} {:>10} {:>7} {:>8} {:>8}",
        "fixture",
        "request",
        "median",
        "p99",
        "baseline",
        "ratio",
        "guest",
        "b. guest",
        "ratio",
        "µs/KB",
        "requests"
    );
    let mut rows = Vec::new();
    for fixture in fixtures() {
        let verdict = policy
            .validate_settings(&fixture.settings)
            .expect("settings validation");
        assert!(
            verdict.valid,
            "{}: settings refused: {:?}",
            fixture.name, verdict.message
        );
        let (ours, our_guest, response) = measure(&policy, &fixture);
        assert_eq!(response["allowed"], true, "{}: {response}", fixture.name);
        assert_eq!(
            response.get("patch").is_some(),
            fixture.name != "skip",
            "{}: {response}",
            fixture.name
        );
        let (theirs, their_guest, _) = measure(&baseline, &fixture);
        let kb = fixture.request_kb();
        let ratio = ours.median.as_secs_f64() / theirs.median.as_secs_f64();
        let guest_ratio = our_guest.median.as_secs_f64() / their_guest.median.as_secs_f64();
        let per_kb = ours.median.as_secs_f64() * 1e6 / kb;
        println!(
            "{:<11} {:>6.1} KB {:>8.3} ms {:>7.3} ms {:>8.3} ms {:>6.2}x {:>7.3} ms {:>7.3} ms {:>6.2}x {:>8.2} {:>8}",
            fixture.name,
            kb,
            ms(ours.median),
            ms(ours.p99),
            ms(theirs.median),
            ratio,
            ms(our_guest.median),
            ms(their_guest.median),
            guest_ratio,
            per_kb,
            ours.requests
        );
        rows.push((fixture.name, ours, ratio, per_kb));
    }

    let row = |name: &str| rows.iter().find(|r| r.0 == name).expect("a fixture");
    let typical = row("typical").2;
    let skip = row("skip").2;
    let env = ms(row("env-2000").1.median);
    let growth = row("size-3MB").3 / row("size-100KB").3;
    let slowest = rows.iter().map(|r| ms(r.1.p99)).fold(0.0, f64::max);
    println!("\ntargets");
    println!(
        "  typical injected Pod      {typical:>7.2}x baseline   (≤ 1.50x)  {}",
        verdict(typical <= 1.5)
    );
    println!(
        "  skip path                 {skip:>7.2}x baseline   (≤ 1.10x)  {}",
        verdict(skip <= 1.1)
    );
    println!(
        "  2000 env vars             {env:>7.3} ms           (≤ 2 ms)   {}",
        verdict(env <= 2.0)
    );
    println!(
        "  µs/KB, 3 MB vs 100 KB     {growth:>7.2}x            (≤ 1.50x)  {}",
        verdict(growth <= 1.5)
    );
    println!(
        "  slowest request (p99)     {slowest:>7.3} ms           (≤ 100 ms) {}",
        verdict(slowest <= 100.0)
    );
}
