// The bindings in node, through the page's own engine (dist/engine.js): the structure the page
// reads, errors as values that point at their input, and no exception whatever the input.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { loadEngine, repoFile } from './helpers.mjs';

const POLICY = repoFile('examples/opt-in.yaml');
const POD = repoFile('examples/pod.yaml');
const SAMPLE = repoFile('playground/www/samples/deployment.yaml');
const SETTINGS = 'template:\n  containers:\n    - name: proxy\n      image: proxy:1\n';

let engine;

before(async () => {
  engine = await loadEngine();
});

function evaluate(overrides = {}) {
  return engine.evaluate({
    policy: POLICY,
    manifests: POD,
    namespace: 'shop',
    namespaceLabels: 'istio-injection: enabled',
    ...overrides,
  });
}

test('bindings: the example Pod, injected, with everything the page shows', async () => {
  const result = await evaluate();
  assert.deepEqual(result.errors, []);
  assert.equal(result.policy.kind, 'ClusterAdmissionPolicy');
  assert.equal(result.policy.namespaceSelector, 'kubernetes.io/metadata.name notin (kubewarden),istio-injection=enabled');
  assert.deepEqual(result.policy.warnings, []);
  assert.equal(result.objects.length, 1);
  const [pod] = result.objects;
  assert.equal(pod.title, 'Pod shop/shop-web-7c9d8b5f4-');
  assert.equal(pod.verdict, 'injected');
  assert.equal(pod.reason, "the Pod does not choose, and the policy's default is enabled");
  assert.deepEqual(pod.policyServer, {
    calls: true,
    verdict: 'calls the policy',
    reason: 'namespace shop matches the namespaceSelector kubernetes.io/metadata.name notin (kubewarden),istio-injection=enabled',
  });
  assert.deepEqual(pod.decision, { inject: true, step: 8, reason: pod.reason });
  assert.deepEqual(pod.row, {
    step: 8,
    namespaceSelectorMatch: true,
    policy: 'enabled',
    podOverride: null,
    injected: true,
    seedRow: 3,
    text: 'namespaceSelector match: yes, policy: enabled, pod override: absent → yes',
  });
  assert.equal(pod.before.split('\n')[0], 'apiVersion: v1');
  assert.match(pod.after, /- name: istio-proxy\n/);
  assert.match(pod.after, /sidecar\.istio\.io\/status: /);
  assert.ok(pod.patch.some((op) => op.op === 'add' && op.path.startsWith('/spec/containers/')));
  assert.ok(pod.patch.some((op) => op.path === '/spec/initContainers'));
  // The example rewrites the Pod's HTTP readiness probe; it has one template.
  assert.deepEqual(pod.probes, { statusPort: 15020, rewritten: ['/app-health/web/readyz'] });
  assert.deepEqual(pod.templates, []);
  // No init containers of its own: none of the template's runs after them.
  assert.deepEqual(pod.afterOwnInitContainers, []);
  // The whole stream as `inject` writes it: the injected document rewritten.
  assert.equal(result.output, pod.after);
  // The seed truth table, from the library, which the object's row points into.
  assert.equal(result.seedTable.length, 7);
  assert.deepEqual(result.seedTable[pod.row.seedRow - 1], ['yes', 'enabled', 'absent', 'yes']);
  assert.deepEqual(result.seedTable[6], ['no', 'any', 'any', 'no (the policy is never called)']);
});

test('bindings: a Namespace, a Deployment and a Job in one stream', async () => {
  const result = await evaluate({ manifests: SAMPLE });
  assert.deepEqual(result.errors, []);
  // Each document starts at its `---` line.
  assert.deepEqual(result.objects.map((o) => [o.title, o.verdict, o.document, o.line]), [
    ['Deployment payments/ledger', 'injected', 2, 10],
    ['Job payments/ledger-migrate', 'not injected', 3, 35],
  ]);
  assert.deepEqual(result.skipped, [{ document: 1, line: 1, path: '', kind: 'Namespace', name: 'payments' }]);
  const [deployment, job] = result.objects;
  assert.ok(deployment.patch.every((op) => op.path.startsWith('/spec/template/')), 'only the pod template changes');
  assert.equal(job.row.seedRow, 2);
  assert.deepEqual(job.patch, []);
  assert.ok(result.output.startsWith(SAMPLE.slice(0, SAMPLE.indexOf('---\napiVersion: apps/v1'))), 'untouched documents stay as written');
});

test('bindings: Lists are opened, and an item error names its path in the List', async () => {
  const list = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'good' }, spec: { containers: [{ name: 'app', image: 'app' }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad' }, spec: { containers: 'app' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } },
    ],
  });
  const result = await evaluate({ manifests: list });
  assert.equal(result.objects[0].verdict, 'injected');
  assert.equal(result.objects[0].path, 'items[0]');
  assert.deepEqual(result.objects[1].error, {
    message: 'spec.containers: expected an array, got a string',
    input: 'manifest',
    path: 'items[1].spec.containers',
  });
  assert.deepEqual(result.skipped.map((s) => [s.kind, s.path]), [['Service', 'items[2]']]);
  assert.equal(result.output, '', 'as inject, no manifests written when an object cannot be evaluated');
});

test('bindings: settings alone: the namespaceSelector is not known, the decision is given as if called', async () => {
  const result = await evaluate({ policy: SETTINGS, namespaceLabels: '' });
  assert.equal(result.policy.kind, 'settings');
  const [pod] = result.objects;
  assert.equal(pod.policyServer.calls, null);
  assert.equal(pod.row.namespaceSelectorMatch, null);
  assert.equal(pod.row.seedRow, 3);
  assert.equal(pod.verdict, 'injected');
});

test('bindings: policy manifest mistakes are warned about', async () => {
  const result = await evaluate({ policy: POLICY.replace('mutating: true', 'mutating: false') });
  assert.equal(result.policy.warnings.length, 1);
  assert.match(result.policy.warnings[0], /does not set spec\.mutating: true/);
});

test('bindings: inputs that cannot be used are errors with the field, the line and the column', async () => {
  const cases = [
    [{ policy: POLICY.replace('    policy: enabled', '    polcy: enabled') }, { input: 'policy', path: 'spec.settings.polcy' }, /^invalid ClusterAdmissionPolicy: spec\.settings\.polcy: unknown field/],
    [{ policy: 'policy: sometimes\ntemplate: {}\n' }, { input: 'policy', path: 'policy' }, /^invalid settings: policy: expected "enabled" or "disabled", got "sometimes"$/],
    [{ policy: SETTINGS.replace('image: proxy:1', 'image: proxy:1\n      imagePullPolicyy: Always') }, { input: 'policy', path: 'template.containers[0].imagePullPolicyy' }, /unknown field/],
    [{ policy: 'template: [\n' }, { input: 'policy', line: 1, column: 11 }, /line 1 column 11/],
    [{ policy: '# nothing\n' }, { input: 'policy' }, /^no settings in it/],
    [{ policy: `${SETTINGS}---\n${SETTINGS}` }, { input: 'policy' }, /^several documents in it/],
    [{ manifests: 'kind: Pod\n  bad: indentation\n' }, { input: 'manifest', line: 2 }, /line 2/],
    [{ namespaceLabels: 'team: [a\n' }, { input: 'namespaceLabels', line: 1 }, /line 1/],
    [{ namespaceLabels: 'istio-injection: 1' }, { input: 'namespaceLabels', path: 'istio-injection' }, /^namespace labels: istio-injection: expected a string, got a number/],
    [{ namespaceLabels: 'a=b,c' }, { input: 'namespaceLabels' }, /^namespace labels: expected key=value pairs separated by commas.*got "c"$/],
    [{ namespaceLabels: '- a\n- b\n' }, { input: 'namespaceLabels' }, /got a list$/],
    [{ namespace: '  ' }, { input: 'namespace' }, /^namespace: expected the name/],
  ];
  for (const [inputs, expected, message] of cases) {
    const result = await evaluate(inputs);
    assert.equal(result.objects.length, 0, JSON.stringify(inputs));
    assert.equal(result.errors.length, 1, JSON.stringify(result.errors));
    const [error] = result.errors;
    for (const [key, value] of Object.entries(expected)) assert.equal(error[key], value, `${key} of ${JSON.stringify(error)}`);
    assert.match(error.message, message);
  }
  // Every input that cannot be used is reported at once.
  const result = await evaluate({ policy: 'a: [', manifests: 'b: [', namespaceLabels: 'c: [' });
  assert.deepEqual(result.errors.map((e) => e.input), ['policy', 'manifest', 'namespaceLabels']);
});

test('bindings: a template string that fails for this Pod points at the policy', async () => {
  const policy = SETTINGS.replace('image: proxy:1', 'image: "{{ pod.metadata.generateName + 1 }}"');
  const result = await evaluate({ policy, namespaceLabels: '' });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.objects[0].error, {
    message:
      'the sidecar template could not be rendered for this Pod: template.containers[0].image: invalid operation: tried to use + operator on unsupported types string and number (in <expression>:1)',
    input: 'policy',
    settingsPath: 'template.containers[0].image',
  });
});

test('bindings: typed values are written, and one its field cannot hold points at the policy', async () => {
  const policy = SETTINGS.replace(
    'image: proxy:1\n',
    "image: proxy:1\n      readinessProbe:\n        periodSeconds: \"{{ pod.metadata.annotations['period'] | default(15) }}\"\n",
  );
  const [injected] = (await evaluate({ policy, namespaceLabels: '' })).objects;
  assert.equal(injected.error, undefined);
  assert.match(injected.after, /periodSeconds: 15\n/);
  const pod = POD.replace('  annotations:\n', '  annotations:\n    period: often\n');
  const [refused] = (await evaluate({ policy, manifests: pod, namespaceLabels: '' })).objects;
  assert.deepEqual(refused.error, {
    message:
      'the sidecar cannot be injected into this Pod, because the API server would refuse the result: template.containers[0].readinessProbe.periodSeconds: expected a 32-bit integer, got the string "often"; the template string "{{ pod.metadata.annotations[\'period\'] | default(15) }}" gave it for this Pod',
    input: 'policy',
    settingsPath: 'template.containers[0].readinessProbe.periodSeconds',
  });
});

test('bindings: namespace rules read the Namespace given: Istio\'s labels, a mandatory sidecar refused, its annotations in the sidecar', async () => {
  const policy = repoFile('examples/istio-namespaces.yaml');
  // The labels are the namespace labels' input (which win over a manifest's), the annotations
  // the Namespace manifest's.
  const namespace = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: {sidecar.istio.io/proxyCPU: 321m}\n---\n';
  const pod = POD.replace(/ *sidecar\.istio\.io\/proxyCPU: .*\n/, '');
  const run = async (namespaceLabels, manifests = namespace + pod) =>
    (await evaluate({ policy, manifests, namespaceLabels })).objects.at(-1);
  const legacy = await run('');
  assert.equal(legacy.verdict, 'not injected');
  assert.match(legacy.reason, /^by Istio's namespace rules \(namespaceRules: istio\), none of Istio's injection webhooks for revision default would be called/);
  const tuned = await run('istio-injection=enabled');
  assert.equal(tuned.verdict, 'injected');
  assert.match(tuned.after, /cpu: 321m\n/);
  const refusing = pod.replace('  labels:\n', '  labels:\n    sidecar.istio.io/inject: "false"\n');
  const rejected = await run('mesh.example/required=true', namespace + refusing);
  assert.equal(rejected.verdict, 'rejected');
  assert.match(rejected.reason, /^the Pod refuses the sidecar with its label sidecar\.istio\.io\/inject is "false", but the sidecar is mandatory in namespace shop/);
});

test('bindings: a boolean override is refused as Kubernetes refuses it, naming the field', async () => {
  const pod = POD.replace('  annotations:\n', '  annotations:\n    sidecar.istio.io/inject: true\n');
  const [object] = (await evaluate({ manifests: pod })).objects;
  assert.equal(object.error.path, 'metadata.annotations.sidecar.istio.io/inject');
  assert.match(object.error.message, /expected a string, got a boolean; Kubernetes refuses it too/);
});

test('bindings: no input makes the engine throw or trap (1500 mangled inputs)', async () => {
  // A deterministic generator, so that a failure can be replayed.
  let seed = 7;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pieces = ['{', '}', '[', ']', ':', '- ', '\n', '  ', '"', "'", '&a', '*a', '!!binary', '---\n', '{{', '}}', '\u0000', '😀', '0644', 'null', '~'];
  const mangle = (text) => {
    let out = text;
    for (let edits = 1 + random(4); edits > 0; edits--) {
      const at = random(out.length + 1);
      switch (random(3)) {
        case 0:
          out = out.slice(0, at) + out.slice(at + random(40));
          break;
        case 1:
          out = out.slice(0, at) + pieces[random(pieces.length)] + out.slice(at);
          break;
        default: {
          const from = random(out.length + 1);
          out = out.slice(0, at) + out.slice(from, from + random(80)) + out.slice(at);
        }
      }
    }
    return out;
  };
  let evaluated = 0;
  for (let i = 0; i < 1500; i++) {
    const which = random(3);
    const inputs = {
      policy: which === 0 ? mangle(POLICY) : POLICY,
      manifests: which === 1 ? mangle(i % 2 ? POD : SAMPLE) : POD,
      namespace: 'shop',
      namespaceLabels: which === 2 ? mangle('istio-injection: enabled\nteam: shop\n') : 'istio-injection: enabled',
    };
    const result = await engine.evaluate(inputs);
    assert.ok(!result.errors.some((e) => e.input === 'internal'), `${JSON.stringify(result.errors)} for ${JSON.stringify(inputs)}`);
    assert.ok(Array.isArray(result.objects) && Array.isArray(result.errors));
    for (const error of result.errors) assert.ok(typeof error.message === 'string' && error.message.length > 0);
    if (result.errors.length === 0) evaluated += 1;
  }
  assert.ok(evaluated > 100, `${evaluated} mangled inputs were still evaluated`);
});

test('bindings: a trap becomes an error value, and the next evaluation runs in a fresh instance', async () => {
  engine.simulateTrap('panicked at src/example.rs:1:1: a simulated bug');
  const failed = await evaluate();
  assert.deepEqual(failed.objects, []);
  assert.equal(failed.errors.length, 1);
  assert.equal(failed.errors[0].input, 'internal');
  assert.match(failed.errors[0].message, /^internal error in sidecar-injector \(please report it with these inputs\): panicked at src\/example\.rs:1:1: a simulated bug$/);
  assert.equal((await evaluate()).objects[0].verdict, 'injected');
});

test('bindings: arguments that are not strings are errors, not exceptions', async () => {
  const result = await engine.evaluate({ policy: POLICY, manifests: undefined, namespace: 'shop', namespaceLabels: '' });
  assert.deepEqual(result.errors, [{ input: 'internal', message: 'evaluate: manifests: expected a string, got undefined' }]);
});
