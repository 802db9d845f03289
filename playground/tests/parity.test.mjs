// The playground agrees with the compiled policy module on the e2e fixtures: for each Pod
// creation, kwctl (or, where kwctl is not installed, this repository's policy-runner) runs
// policy.wasm as the policy server does, and the playground's bindings evaluate the same Pod with
// the same settings. Same verdict, same reason, same warning, the same Pod once each JSONPatch is
// applied (by the e2e suite's apply-patch), the status annotation's revision name and hash
// included, and for a Pod the module refuses, the same message.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';

import { REPO, loadEngine } from './helpers.mjs';

const RUNNER_BIN = process.env.RUNNER_BIN ?? join(process.env.HOME, '.cache/sidecar-injector/target-runner/release');
const POLICY = process.env.POLICY ?? join(REPO, 'policy.wasm');
const SETTINGS = join(REPO, 'e2e-tests/settings/sidecar.json');
const REQUESTS = join(REPO, 'e2e-tests/requests');

let engine;
// The module's response for each fixture: the runner compiles the module on each run (seconds),
// so the runs go in parallel, before the tests.
const responses = new Map();

const KWCTL = (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'kwctl')).find((file) => existsSync(file));
const HOST = KWCTL ? [KWCTL, ['run']] : [join(RUNNER_BIN, 'policy-runner'), []];

async function module(requestPath) {
  const [command, args] = HOST;
  const { stdout } = await promisify(execFile)(
    command,
    [...args, '--settings-path', SETTINGS, '--request-path', requestPath, POLICY],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout);
}

/** The request's Pod with the response's JSONPatch applied, by the e2e suite's apply-patch. */
function patched(requestPath, response) {
  const stdout = execFileSync(join(RUNNER_BIN, 'apply-patch'), ['--request-path', requestPath], {
    input: JSON.stringify(response),
    encoding: 'utf8',
  });
  return JSON.parse(stdout);
}

const fixtures = readdirSync(REQUESTS)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => ({ name, path: join(REQUESTS, name), request: JSON.parse(readFileSync(join(REQUESTS, name), 'utf8')) }));
// The playground evaluates Pods as written in manifests: requests that are not the creation of
// a Pod object (an UPDATE, a Deployment, an object that is null, a list or a string) are not ones.
const podCreations = fixtures.filter(({ request }) =>
  request.operation === 'CREATE' &&
  request.kind?.kind === 'Pod' &&
  request.object !== null &&
  typeof request.object === 'object' &&
  !Array.isArray(request.object));

before(async () => {
  for (const file of [POLICY, HOST[0], join(RUNNER_BIN, 'apply-patch')]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: make policy.wasm runner (make playground-tests builds them)`);
  }
  engine = await loadEngine();
  const queue = [...podCreations];
  const worker = async () => {
    for (let fixture = queue.shift(); fixture; fixture = queue.shift()) {
      responses.set(fixture.name, await module(fixture.path));
    }
  };
  await Promise.all(Array.from({ length: availableParallelism() }, worker));
});

test('parity: most e2e fixtures are Pod creations', () => {
  assert.ok(podCreations.length >= 20, `${podCreations.length} of ${fixtures.length}`);
});

for (const { name, path, request } of podCreations) {
  test(`parity with policy.wasm: ${name}`, async () => {
    const response = responses.get(name);
    const result = await engine.evaluate({
      policy: readFileSync(SETTINGS, 'utf8'),
      manifests: JSON.stringify(request.object),
      namespace: request.namespace,
      namespaceLabels: '',
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.objects.length, 1);
    const [object] = result.objects;
    if (!response.allowed) {
      // The module names the request's field, the playground the manifest's.
      assert.ok(object.error, `the module refused the Pod (${response.status?.message}); the playground: ${object.verdict}`);
      assert.equal(response.status.message, `invalid admission request: request.object.${object.error.message}`);
      return;
    }
    assert.equal(object.error, undefined, object.error?.message);
    assert.equal(String(object.injected), response.auditAnnotations.injected);
    assert.equal(object.reason, response.auditAnnotations.reason);
    assert.deepEqual(object.warning ? [object.warning] : [], response.warnings ?? []);
    if (response.patch) {
      const fromModule = patched(path, response);
      const patch = Buffer.from(JSON.stringify(object.patch)).toString('base64');
      const fromPlayground = patched(path, { allowed: true, patchType: 'JSONPatch', patch });
      assert.deepEqual(fromPlayground, fromModule);
      assert.notDeepEqual(fromModule, request.object);
      const status = (pod) => JSON.parse(pod.metadata.annotations['sidecar.istio.io/status']);
      assert.match(status(fromModule).hash, /^[0-9a-f]{16}$/);
      assert.equal(status(fromModule).revision, 'default');
      assert.equal(status(fromPlayground).hash, status(fromModule).hash);
      assert.equal(status(fromPlayground).revision, status(fromModule).revision);
    } else {
      assert.deepEqual(object.patch, []);
    }
  });
}
