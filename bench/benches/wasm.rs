//! The compiled module as the policy server runs it: for every request a fresh instance of the
//! pre-compiled module (instantiate, `wapc_init`, `validate`), then the JSONPatch computed from its
//! answer. Each fixture is evaluated by sidecar-injector and by its floor in the same run, and the
//! ratio of their medians is the figure we track, absolute times being noisy:
//! - a request that is not mutated, against the no-op module given the same payload (settings
//!   included): it parses the request with the SDK and accepts;
//! - an injection, against the minimal injector given the template already rendered for that Pod:
//!   it parses the Pod as untyped JSON and appends the parts, and the host then parses and diffs
//!   its answer just as it does ours. No injector can cost less.
//!
//! The "guest" columns time the guest's `validate` call alone (a fresh instance included): what the
//! module costs, without the policy server's own work around it.
//!
//! POLICY_WASM, BASELINE_WASM and MINIMAL_WASM name the modules (defaults: policy.wasm,
//! bench/baseline.wasm, bench/minimal.wasm); FIXTURES=typical,skip measures those fixtures alone.
//! AGAINST_WASM names another build of this policy to be the floor of every fixture instead, given
//! the same settings and required to answer exactly as ours: two implementations side by side.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use policy_runner::PolicyModule;
use serde_json::Value;
use sidecar_injector_bench::{Floor, fixtures, root, sorted_keys, validate_payload};

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

/// Times `ours` and `theirs` over fresh requests, one of each in turn (which goes first
/// alternates), after two of each to warm up: a machine that slows down or speeds up during the
/// run slows both alike, and their ratio stays meaningful.
fn time_both<T>(ours: impl Fn() -> T, theirs: impl Fn() -> T) -> (Timing, Timing) {
    for _ in 0..2 {
        std::hint::black_box(ours());
        std::hint::black_box(theirs());
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let timed = |run: &dyn Fn() -> T, into: &mut Vec<Duration>| {
        let begin = Instant::now();
        std::hint::black_box(run());
        into.push(begin.elapsed());
    };
    while a.len() < MAX_REQUESTS && (a.len() < MIN_REQUESTS || start.elapsed() < BUDGET) {
        if a.len() % 2 == 0 {
            timed(&ours, &mut a);
            timed(&theirs, &mut b);
        } else {
            timed(&theirs, &mut b);
            timed(&ours, &mut a);
        }
    }
    (timing(a), timing(b))
}

fn timing(mut times: Vec<Duration>) -> Timing {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Timing {
        median: at(0.5),
        p99: at(0.99),
        requests: times.len(),
    }
}

/// One side of a comparison: a module, its settings, and the request.
struct Side<'a> {
    module: &'a PolicyModule,
    settings: &'a Value,
    request: &'a Value,
}

impl Side<'_> {
    /// The whole evaluation as the policy server does it.
    fn evaluate(&self) -> Value {
        self.module
            .evaluate(self.settings, self.request)
            .expect("an evaluation")
    }

    /// The Pod the guest answers, as it wrote it.
    fn mutated_object(&self) -> Value {
        let answer = self
            .module
            .call("validate", &self.payload())
            .expect("a guest answer");
        let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        answer["mutated_object"].clone()
    }

    /// What the guest's `validate` receives.
    fn payload(&self) -> Vec<u8> {
        // As the hosts (and `PolicyModule::evaluate`) send it.
        validate_payload(self.request, self.settings)
    }
}

/// The whole evaluations of both sides, then their guest calls alone, each pair interleaved.
fn measure(ours: &Side, theirs: &Side) -> [(Timing, Timing); 2] {
    let whole = time_both(|| ours.evaluate(), || theirs.evaluate());
    let (our_payload, their_payload) = (ours.payload(), theirs.payload());
    let guest = time_both(
        || {
            ours.module
                .call("validate", &our_payload)
                .expect("a guest answer")
        },
        || {
            theirs
                .module
                .call("validate", &their_payload)
                .expect("a guest answer")
        },
    );
    [whole, guest]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn main() {
    let policy = module("POLICY_WASM", "policy.wasm");
    let no_op = module("BASELINE_WASM", "bench/baseline.wasm");
    let minimal = module("MINIMAL_WASM", "bench/minimal.wasm");
    let against = std::env::var_os("AGAINST_WASM").map(|_| module("AGAINST_WASM", ""));
    println!(
        "\n{:<11} {:>9} {:>8} {:>11} {:>10} {:>11} {:>7} {:>10} {:>10} {:>7} {:>8} {:>8}",
        "fixture",
        "request",
        "floor",
        "median",
        "p99",
        "floor",
        "ratio",
        "guest",
        "f. guest",
        "ratio",
        "µs/KB",
        "requests"
    );
    let mut rows = Vec::new();
    // FIXTURES=typical,skip measures those alone (the targets need them all).
    let only = std::env::var("FIXTURES").ok();
    let chosen = |name: &str| {
        only.as_deref()
            .is_none_or(|list| list.split(',').any(|n| n == name))
    };
    for fixture in fixtures().into_iter().filter(|f| chosen(&f.name)) {
        let verdict = policy
            .validate_settings(&fixture.settings)
            .expect("settings validation");
        assert!(
            verdict.valid,
            "{}: settings refused: {:?}",
            fixture.name, verdict.message
        );
        let ours_side = Side {
            module: &policy,
            settings: &fixture.settings,
            request: &fixture.request,
        };
        let response = ours_side.evaluate();
        assert_eq!(response["allowed"], true, "{}: {response}", fixture.name);
        let injected = fixture.floor == Floor::MinimalInjector;
        assert_eq!(
            response.get("patch").is_some(),
            injected,
            "{}: {response}",
            fixture.name
        );
        let (floor, floor_name, floor_settings) = match (&against, fixture.floor) {
            (Some(against), _) => (against, "against", fixture.settings.clone()),
            (None, Floor::NoOp) => (&no_op, "no-op", fixture.settings.clone()),
            (None, Floor::MinimalInjector) => (&minimal, "minimal", fixture.minimal_settings()),
        };
        let floor_side = Side {
            module: floor,
            settings: &floor_settings,
            request: &fixture.request,
        };
        let their_response = floor_side.evaluate();
        assert_eq!(
            their_response.get("patch").is_some(),
            injected,
            "{} floor: {their_response}",
            fixture.name
        );
        if against.is_some() {
            assert_eq!(
                response, their_response,
                "{}: the two builds answer differently",
                fixture.name
            );
        } else if injected {
            // The floor answers the same Pod, but for our status annotation: the host's work on
            // the answer is the same, and what is measured is the injection itself.
            let mut our_pod = ours_side.mutated_object();
            if let Some(Value::Object(annotations)) = our_pod.pointer_mut("/metadata/annotations") {
                annotations.shift_remove("sidecar.istio.io/status");
            }
            assert_eq!(
                sorted_keys(&our_pod),
                sorted_keys(&floor_side.mutated_object()),
                "{}: the minimal injector answers another Pod",
                fixture.name
            );
        }
        let [(ours, theirs), (our_guest, their_guest)] = measure(&ours_side, &floor_side);
        let kb = fixture.request_kb();
        let ratio = ours.median.as_secs_f64() / theirs.median.as_secs_f64();
        let guest_ratio = our_guest.median.as_secs_f64() / their_guest.median.as_secs_f64();
        let per_kb = ours.median.as_secs_f64() * 1e6 / kb;
        let guest_per_kb = our_guest.median.as_secs_f64() * 1e6 / kb;
        println!(
            "{:<11} {:>6.1} KB {:>8} {:>8.3} ms {:>7.3} ms {:>8.3} ms {:>6.2}x {:>7.3} ms {:>7.3} ms {:>6.2}x {:>8.2} {:>8}",
            fixture.name,
            kb,
            floor_name,
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
        rows.push((fixture.name, ratio, guest_per_kb));
    }

    if only.is_some() || against.is_some() {
        return;
    }
    let row = |name: &str| rows.iter().find(|r| r.0 == name).expect("a fixture");
    let worst = |names: &[&'static str]| -> (f64, &'static str) {
        names
            .iter()
            .map(|name| (row(name).1, *name))
            .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a })
    };
    let growth = row("size-3MB").2 / row("size-100KB").2;
    println!("\ntargets (ratio of medians, whole evaluation)");
    let target = |what: &str, (ratio, name): (f64, &str), floor: &str, limit: f64| {
        println!(
            "  {what:<34} {ratio:>5.2}x {floor:<8} ({name}; ≤ {limit:.2}x)  {}",
            verdict(ratio <= limit)
        );
    };
    target(
        "not injected, and not Pods",
        worst(&["skip", "pod-update", "deployment"]),
        "no-op",
        1.1,
    );
    target("typical injection", worst(&["typical"]), "minimal", 1.1);
    target(
        "2000 env vars, 1.5 MB Pod",
        worst(&["env-2000", "size-1.5MB"]),
        "minimal",
        1.0,
    );
    // Growth is the module's own cost (the guest's): the host's diff of the mutated Pod is not.
    println!(
        "  {:<34} {growth:>5.2}x          (≤ 1.10x)  {}",
        "guest µs per KB, 3 MB vs 100 KB",
        verdict(growth <= 1.1)
    );
}
