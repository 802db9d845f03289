//! Calls one module's `validate` N times on a payload read from a file (a fresh instance each
//! time): `payload_loop MODULE PAYLOAD N`, for `perf stat` on builds whose settings differ.
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(payload), Some(n)) = (args.next(), args.next(), args.next()) else {
        panic!("usage: payload_loop MODULE PAYLOAD N");
    };
    let module = sidecar_injector_bench::quiet_module(&path);
    let payload = std::fs::read(payload).expect("a payload file");
    let n: usize = n.parse().expect("a count");
    let answer = module.call("validate", &payload).expect("an answer");
    if std::env::var_os("SHOW").is_some() {
        println!("{}", String::from_utf8_lossy(&answer));
    }
    sidecar_injector_bench::time_validate(&module, &payload, n);
}
