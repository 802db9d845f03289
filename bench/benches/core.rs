//! The pure core, natively: settings parse and validation, the decision, and a whole evaluation
//! (parse the payload, decide, inject) on each fixture.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sidecar_injector::admission::evaluate;
use sidecar_injector::decision::decide_for_pod;
use sidecar_injector::namespace::NamespaceSource;
use sidecar_injector::pod::PodView;
use sidecar_injector::settings::Settings;
use sidecar_injector_bench::fixtures;

fn core(c: &mut Criterion) {
    let fixtures = fixtures();
    let settings = sidecar_injector_bench::istio_like_settings().to_string();

    let mut group = c.benchmark_group("settings");
    group.bench_function("parse (every request)", |b| {
        b.iter(|| Settings::from_slice(settings.as_bytes()).map(drop))
    });
    group.bench_function("validate (at load)", |b| {
        b.iter(|| Settings::validate(settings.as_bytes()).map(drop))
    });
    group.finish();

    let parsed = Settings::from_slice(settings.as_bytes()).expect("valid settings");
    let mut group = c.benchmark_group("decision");
    let namespace = NamespaceSource::unreadable("shop");
    for fixture in fixtures
        .iter()
        .filter(|f| f.name == "typical" || f.name == "size-1MB")
    {
        let pod = &fixture.request["object"];
        group.bench_function(fixture.name.as_str(), |b| {
            b.iter(|| PodView::read(pod).map(|view| decide_for_pod(&view, &namespace, &parsed)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("evaluate");
    group.sample_size(20);
    for fixture in &fixtures {
        let payload = fixture.payload();
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(fixture.name.as_str(), |b| b.iter(|| evaluate(&payload)));
    }
    group.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
