//! Guest `validate` calls of several modules, each with its own payload file, taken in turn
//! (a fresh instance each call): `side_by_side SECONDS MODULE=PAYLOAD...`; prints each pair's
//! median and its ratio to the first's.
fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().expect("SECONDS").parse().expect("seconds");
    let sides: Vec<(String, policy_runner::PolicyModule, Vec<u8>)> = args
        .map(|pair| {
            let (module, payload) = pair.split_once('=').expect("MODULE=PAYLOAD");
            let m = policy_runner::PolicyModule::from_file(std::path::Path::new(module))
                .expect("a module")
                .without_log_output();
            // `minimal:FIXTURE`: the minimal injector's payload for that fixture.
            let p = match payload.strip_prefix("minimal:") {
                Some(name) => {
                    let f = sidecar_injector_bench::fixtures()
                        .into_iter()
                        .find(|f| f.name == name)
                        .expect("a fixture");
                    sidecar_injector_bench::validate_payload(&f.request, &f.minimal_settings())
                }
                None => std::fs::read(payload).expect("a payload"),
            };
            (pair.clone(), m, p)
        })
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    for (_, m, p) in &sides {
        for _ in 0..3 {
            std::hint::black_box(m.call("validate", p).expect("an answer"));
        }
    }
    let start = std::time::Instant::now();
    let mut round = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            let (_, m, p) = &sides[i];
            let t = std::time::Instant::now();
            std::hint::black_box(m.call("validate", p).expect("an answer"));
            times[i].push(t.elapsed().as_secs_f64() * 1e6);
        }
        round += 1;
    }
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();
    for ((name, _, _), median) in sides.iter().zip(&medians) {
        println!("{median:8.1} µs  {:5.2}x  {name}", median / medians[0]);
    }
}
