// The playground says what `sidecar-injector check` and `inject` say: for the examples, each
// with several namespace labels, the same report for every object (verdict, reason, policy
// server, decision, truth-table row, hints), the same policy warnings, and the same manifests
// written back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPO, loadEngine, repoFile } from './helpers.mjs';

const CLI = process.env.CLI_BIN ?? join(process.env.HOME, '.cache/sidecar-injector/target-host/debug/sidecar-injector');

let engine;
let scratch;

before(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: make playground-tests builds it (CLI_BIN)`);
  engine = await loadEngine();
  scratch = mkdtempSync(join(tmpdir(), 'playground-cli-'));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function cli(args) {
  const run = spawnSync(CLI, args, { cwd: REPO, encoding: 'utf8' });
  if (run.error) throw run.error;
  return run;
}

const POLICIES = ['examples/opt-in.yaml', 'examples/opt-out.yaml', 'examples/logging-sidecar.yaml', 'examples/templates.yaml'];
const MANIFESTS = ['examples/pod.yaml', 'playground/www/samples/deployment.yaml'];
const LABELS = ['istio-injection=enabled', '', 'istio-injection=disabled,logging-sidecar=enabled'];
const MUTATING_FALSE = 'mutating: false';

for (const policy of POLICIES) {
  for (const manifest of MANIFESTS) {
    test(`same as the CLI: ${policy} with ${manifest}, for each of ${LABELS.length} namespace labels`, async () => {
      for (const labels of LABELS) {
        const args = ['--settings', policy, '--namespace', 'shop', '--namespace-labels', labels];
        const check = cli(['check', ...args, '--output', 'json', manifest]);
        assert.equal(check.status, 0, check.stderr);
        const inject = cli(['inject', ...args, '--quiet', manifest]);
        assert.equal(inject.status, 0, inject.stderr);
        const result = await engine.evaluate({
          policy: repoFile(policy),
          manifests: repoFile(manifest),
          namespace: 'shop',
          namespaceLabels: labels,
        });
        assert.deepEqual(result.errors, []);
        const reports = JSON.parse(check.stdout);
        assert.equal(result.objects.length, reports.length);
        result.objects.forEach((object, index) => {
          // The CLI's report, and what the page adds to it.
          const { document, line, path, title, before, after, patch, ...report } = object;
          assert.deepEqual(report, reports[index], `${labels}: object ${index + 1}`);
          assert.equal(title, `${object.kind} ${object.namespace}/${object.name}`);
          assert.equal(object.verdict, object.alreadyInjected ? 'already injected' : object.injected ? 'injected' : 'not injected');
        });
        assert.equal(result.output, inject.stdout, `${labels}: the manifests written back`);
      }
    });
  }
}

test('same as the CLI: policy warnings', async () => {
  const path = join(scratch, 'not-mutating.yaml');
  const text = repoFile('examples/opt-in.yaml').replace('mutating: true', MUTATING_FALSE);
  writeFileSync(path, text);
  const check = cli(['check', '--settings', path, '--namespace', 'shop', 'examples/pod.yaml']);
  assert.equal(check.status, 0, check.stderr);
  const warnings = check.stderr
    .split('\n')
    .filter((line) => line.startsWith(`sidecar-injector: warning: ${path}: `))
    .map((line) => line.slice(`sidecar-injector: warning: ${path}: `.length));
  assert.ok(warnings.length > 0, check.stderr);
  const result = await engine.evaluate({ policy: text, manifests: repoFile('examples/pod.yaml'), namespace: 'shop', namespaceLabels: '' });
  assert.deepEqual(result.policy.warnings, warnings);
});

test('same as the CLI: an object that cannot be evaluated, and invalid settings', async () => {
  const manifest = join(scratch, 'bad.yaml');
  const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers: not-a-list\n';
  writeFileSync(manifest, text);
  // `check` only decides; `inject` (as the playground) injects, which reads the whole Pod.
  const inject = cli(['inject', '--quiet', '--settings', 'examples/opt-in.yaml', '--namespace', 'shop', '--namespace-labels', 'istio-injection=enabled', manifest]);
  assert.equal(inject.status, 2);
  assert.equal(inject.stdout, '', 'nothing written when an object fails');
  const result = await engine.evaluate({ policy: repoFile('examples/opt-in.yaml'), manifests: text, namespace: 'shop', namespaceLabels: 'istio-injection=enabled' });
  const [object] = result.objects;
  assert.equal(inject.stderr.trim(), `sidecar-injector: ${manifest}, document 1: ${object.name}: ${object.error.message}`);
  assert.equal(result.output, inject.stdout);

  const settings = join(scratch, 'settings.yaml');
  const invalid = 'polcy: enabled\ntemplate:\n  containers: [{name: proxy, image: proxy:1}]\n';
  writeFileSync(settings, invalid);
  const refused = cli(['check', '--settings', settings, 'examples/pod.yaml']);
  assert.equal(refused.status, 2);
  const refusal = await engine.evaluate({ policy: invalid, manifests: repoFile('examples/pod.yaml'), namespace: 'shop', namespaceLabels: '' });
  assert.equal(refused.stderr.trim(), `sidecar-injector: ${settings}: ${refusal.errors[0].message}`);
});
