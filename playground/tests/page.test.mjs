// The page in real headless Chromium: the seed truth table row by row through the inputs a
// person edits (namespace labels, the policy's default, the Pod's annotation), error messages
// that point at the field, workloads, and a screenshot for people to look at.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { fill, openPlayground, repoFile, screenshotPath, settled } from './helpers.mjs';

const POLICY = repoFile('examples/opt-in.yaml');
const POD = repoFile('examples/pod.yaml');

let playground;
let page;

before(async () => {
  playground = await openPlayground();
  page = playground.page;
});

after(async () => {
  await playground?.close();
});

/** The example Pod with the override annotation set to `value`, or without it for null. */
function podWithAnnotation(value) {
  if (value === null) return POD;
  const marker = '  annotations:\n';
  assert.ok(POD.includes(marker), 'examples/pod.yaml has annotations');
  return POD.replace(marker, `${marker}    sidecar.istio.io/inject: "${value}"\n`);
}

function policyWithDefault(value) {
  assert.match(POLICY, /^ {4}policy: enabled$/m, 'examples/opt-in.yaml sets policy: enabled');
  return POLICY.replace(/^ {4}policy: enabled$/m, `    policy: ${value}`);
}

async function shown() {
  const article = page.locator('#objects article').first();
  return {
    count: await page.locator('#objects article').count(),
    verdict: await article.locator('[data-test=verdict]').textContent(),
    reason: await article.locator('[data-test=reason]').textContent(),
    server: await article.locator('[data-test=policy-server]').textContent(),
    row: await article.getAttribute('data-row'),
    highlighted: await article.locator('tr.current').evaluateAll((rows) => rows.map((row) => row.dataset.row)),
    added: Number(await article.getAttribute('data-added')),
    patch: JSON.parse(await article.locator('pre.patch').textContent()),
  };
}

async function setInputs({ labels, policy, annotation }) {
  await fill(page, '#policy', policyWithDefault(policy));
  await fill(page, '#manifests', podWithAnnotation(annotation));
  await fill(page, '#namespace', 'shop');
  await fill(page, '#namespace-labels', labels);
}

test('the page opens with the examples and says the example Pod is injected, and why', async () => {
  assert.equal(await page.locator('#policy').inputValue(), POLICY);
  assert.equal(await page.locator('#manifests').inputValue(), POD);
  const result = await shown();
  assert.equal(result.count, 1);
  assert.equal(result.verdict, 'injected');
  assert.equal(result.reason, "The Pod does not choose, and the policy's default is enabled.");
  assert.match(result.server, /^calls the policy: namespace shop matches the namespaceSelector kubernetes.io\/metadata.name notin \(kubewarden\),istio-injection=enabled/);
  assert.deepEqual(result.highlighted, ['3']);
  assert.ok(result.added > 100, `${result.added} added lines highlighted`);
  assert.ok(result.patch.length > 10 && result.patch.every((op) => op.op && op.path), 'a JSONPatch');
  const added = await page.locator('#objects .diff .line.add').allTextContents();
  assert.ok(added.some((line) => line.includes('name: istio-proxy')), 'the proxy container is highlighted as added');
  assert.match(await page.locator('#status').textContent(), /1 object, sidecar injected into 1/);
  assert.equal(await page.locator('#objects [data-test=probes]').textContent(),
    "rewritten to the agent's status port 15020: /app-health/web/readyz");
  assert.equal(await page.locator('#objects [data-test=templates]').isHidden(), true, 'one template: no list of them');
});

test('a screenshot of the page is written to the build output', async () => {
  const path = screenshotPath('playground.png');
  await page.screenshot({ path });
  const { statSync } = await import('node:fs');
  assert.ok(statSync(path).size > 20000, `${path} is a real screenshot`);
});

// The seed truth table (README), driven through the page: namespace labels × policy × override.
const OVERRIDES = [
  ['"true"', 'true', "The Pod's annotation sidecar.istio.io/inject is \"true\"."],
  ['"false"', 'false', "The Pod's annotation sidecar.istio.io/inject is \"false\"."],
  ['absent', null, null],
];
let row = 0;
for (const policy of ['enabled', 'disabled']) {
  for (const [label, annotation, reason] of OVERRIDES) {
    row += 1;
    const expectedRow = String(row);
    const injected = annotation === 'true' || (annotation === null && policy === 'enabled');
    test(`truth table row ${row}: namespace selected, policy ${policy}, override ${label} → ${injected ? 'injected' : 'not injected'}`, async () => {
      await setInputs({ labels: 'istio-injection: enabled', policy, annotation });
      const result = await shown();
      assert.equal(result.verdict, injected ? 'injected' : 'not injected');
      assert.equal(result.row, expectedRow);
      assert.deepEqual(result.highlighted, [expectedRow]);
      assert.equal(result.reason, reason ?? `The Pod does not choose, and the policy's default is ${policy}.`);
      assert.match(result.server, /^calls the policy: /);
      assert.equal(result.added > 0, injected, 'added lines are highlighted exactly when injected');
      assert.equal(result.patch.length > 0, injected, 'a JSONPatch exactly when injected');
    });
  }
}

for (const [labels, what] of [['', 'no labels'], ['istio-injection=disabled', 'istio-injection=disabled']]) {
  for (const [policy, annotation] of [['enabled', null], ['disabled', 'true']]) {
    test(`truth table row 7: namespace with ${what}, policy ${policy}, override ${annotation ?? 'absent'} → not called, not injected`, async () => {
      await setInputs({ labels, policy, annotation });
      const result = await shown();
      assert.equal(result.verdict, 'not injected');
      assert.equal(result.row, '7');
      assert.deepEqual(result.highlighted, ['7']);
      assert.match(result.reason, /^The policy is not called: namespace shop does not match the namespaceSelector kubernetes.io\/metadata.name notin \(kubewarden\),istio-injection=enabled/);
      assert.match(result.server, /^does not call the policy: /);
      assert.equal(result.added, 0);
      assert.deepEqual(result.patch, []);
      if (annotation === 'true') {
        const hints = await page.locator('#objects .hints li').allTextContents();
        assert.ok(hints.some((hint) => hint.includes('only counts where the policy server calls the policy')), hints.join('\n'));
      }
    });
  }
}

test("the network set-up is said to run after the Pod's own init containers", async () => {
  await setInputs({ labels: 'istio-injection: enabled', policy: 'enabled', annotation: null });
  assert.equal(await page.locator('#objects [data-test=network]').isHidden(), true, 'no init containers of its own: nothing to say');
  const migrate = 'spec:\n  initContainers:\n    - { name: migrate, image: registry.example/shop/web:2.4.1 }\n';
  await fill(page, '#manifests', POD.replace('spec:\n', migrate));
  const result = await shown();
  assert.equal(result.verdict, 'injected');
  assert.equal(await page.locator('#objects [data-test=network]').textContent(),
    "set up after the Pod's own init containers: istio-init");
});

test("the metrics merge says where Prometheus scrapes and where the Pod's own settings went", async () => {
  await setInputs({ labels: 'istio-injection: enabled', policy: 'enabled', annotation: null });
  const marker = '  annotations:\n';
  await fill(page, '#manifests', POD.replace(marker, `${marker}    prometheus.io/port: "8080"\n`));
  assert.equal((await shown()).verdict, 'injected');
  assert.equal(await page.locator('#objects [data-test=metrics]').textContent(),
    "merged: Prometheus scrapes istio-proxy at :15020/stats/prometheus; the Pod's own scrape settings (prometheus.io/port: 8080) are in its ISTIO_PROMETHEUS_ANNOTATIONS");
  await fill(page, '#manifests', POD.replace(marker, `${marker}    prometheus.io/scrape: "false"\n`));
  assert.equal((await shown()).verdict, 'injected');
  assert.equal(await page.locator('#objects [data-test=metrics]').isHidden(), true, 'not scraped: not merged');
});

test('the placement a Pod chooses for itself is shown', async () => {
  await setInputs({ labels: 'istio-injection: enabled', policy: 'enabled', annotation: null });
  assert.equal(await page.locator('#objects [data-test=placement]').isHidden(), true, 'the Pod chooses nothing');
  const marker = '  annotations:\n';
  await fill(page, '#manifests', POD.replace(marker, `${marker}    sidecar.istio.io/nativeSidecar: "true"\n`));
  assert.equal((await shown()).verdict, 'injected');
  assert.equal(await page.locator('#objects [data-test=placement]').textContent(),
    'as the Pod chose: native sidecars (sidecar.istio.io/nativeSidecar: "true")');
});

test('a Pod that has the sidecar already: stale or up to date, by its revision and hash', async () => {
  await fill(page, '#policy', repoFile('examples/canary/canary.yaml'));
  await fill(page, '#manifests', repoFile('tests/cli/manifests/live-pods.yaml'));
  await fill(page, '#namespace', 'shop');
  await fill(page, '#namespace-labels', 'istio.io/rev=canary');
  const sidecars = page.locator('#objects article [data-test=sidecar]');
  assert.equal(await sidecars.count(), 3);
  assert.equal(await sidecars.nth(0).textContent(),
    'stale: injected with revision stable (hash e664d39d34854cb0), the policy now injects revision canary (hash 3866be549366d1d6): the revision name and the hash differ; restart its owner ReplicaSet/web-5d4f9');
  assert.equal(await sidecars.nth(1).textContent(), 'up to date: injected with revision canary (hash 3866be549366d1d6)');
  assert.equal(await sidecars.nth(2).isHidden(), true, 'the Pod that opted out has no sidecar');
});

test('steps outside the seed table are named: hostNetwork', async () => {
  await setInputs({ labels: 'istio-injection: enabled', policy: 'enabled', annotation: 'true' });
  await fill(page, '#manifests', podWithAnnotation('true').replace('spec:\n', 'spec:\n  hostNetwork: true\n'));
  const result = await shown();
  assert.equal(result.verdict, 'not injected');
  assert.equal(result.row, 'none');
  assert.deepEqual(result.highlighted, []);
  assert.match(await page.locator('#objects caption').textContent(), /step 3 of the decision \(hostNetwork, a security rule\)/);
  assert.match(await page.locator('#objects .warning').textContent(), /^kubectl shows the person creating the Pod: Warning: the Pod asks for the sidecar/);
});

test('invalid settings: the message names the field, and the editor marks its line', async () => {
  await setInputs({ labels: 'istio-injection: enabled', policy: 'enabled', annotation: null });
  const text = POLICY.replace(/^ {4}policy: enabled$/m, '    polcy: enabled');
  const line = text.split('\n').findIndex((l) => l.includes('polcy:')) + 1;
  await fill(page, '#policy', text);
  assert.equal(await page.locator('#objects article').count(), 0, 'nothing evaluated');
  const error = page.locator('[data-test=error][data-input=policy]');
  assert.match(await error.locator('pre').textContent(), /^invalid ClusterAdmissionPolicy: spec\.settings\.polcy: unknown field; expected one of policy, /);
  assert.equal(await error.locator('button.jump').textContent(), `Policy, line ${line}`);
  assert.match(await page.locator('#field-policy .field-error').textContent(), new RegExp(`^line ${line}: invalid ClusterAdmissionPolicy: spec\\.settings\\.polcy`));
  // The jump scrolls the editor so that the marked line is in view, under the mark.
  await error.locator('button.jump').click();
  const geometry = await page.evaluate(() => {
    const textarea = document.querySelector('#policy');
    const mark = document.querySelector('#field-policy .mark');
    const lines = textarea.value.slice(0, textarea.selectionStart).split('\n').length;
    return {
      hidden: mark.hidden,
      top: mark.getBoundingClientRect().top - textarea.getBoundingClientRect().top,
      height: textarea.clientHeight,
      cursorLine: lines,
    };
  });
  assert.equal(geometry.hidden, false);
  assert.equal(geometry.cursorLine, line);
  assert.ok(geometry.top >= 0 && geometry.top < geometry.height, `the mark is in view (${geometry.top}px of ${geometry.height}px)`);
});

test('invalid settings values and YAML syntax errors give their message, line and column', async () => {
  await fill(page, '#policy', 'policy: sometimes\ntemplate:\n  containers: [{name: proxy, image: proxy:1}]\n');
  assert.equal(
    await page.locator('[data-test=error][data-input=policy] pre').textContent(),
    'invalid settings: policy: expected "enabled" or "disabled", got "sometimes"',
  );
  assert.equal(await page.locator('[data-test=error][data-input=policy] button.jump').textContent(), 'Policy, line 1');

  await fill(page, '#policy', POLICY);
  await fill(page, '#manifests', `${POD}  extra: [unclosed\n`);
  const message = await page.locator('[data-test=error][data-input=manifest] pre').textContent();
  const line = POD.split('\n').length;
  assert.match(message, new RegExp(`line ${line} column \\d+`), message);
  assert.match(await page.locator('[data-test=error][data-input=manifest] button.jump').textContent(), new RegExp(`^Pod or workload, line ${line}, column \\d+$`));
});

test('invalid namespace labels are refused with a message that names the label', async () => {
  await fill(page, '#manifests', POD);
  await fill(page, '#namespace-labels', 'istio-injection: true');
  assert.equal(
    await page.locator('[data-test=error][data-input=namespaceLabels] pre').textContent(),
    'namespace labels: istio-injection: expected a string, got a boolean; label values are strings: quote it, as in "true"',
  );
  await fill(page, '#namespace-labels', 'istio-injection=enabled,team=shop');
  assert.equal((await shown()).verdict, 'injected', 'labels as kubectl --show-labels prints them');
});

test("an object the policy cannot read: the message names the field, pointing at the Pod's line", async () => {
  const text = POD.replace('  containers:\n', '  containers: not-a-list\n  ignored:\n');
  await fill(page, '#manifests', text);
  const article = page.locator('#objects article');
  assert.equal(await article.getAttribute('data-verdict'), 'error');
  assert.equal(await article.locator('[data-test=object-error]').textContent(), 'spec.containers: expected an array, got a string');
  const line = text.split('\n').findIndex((l) => l.startsWith('  containers:')) + 1;
  assert.equal(await article.locator('button.jump').textContent(), `Pod or workload, line ${line}`);
});

test('workloads, Namespaces and several documents: the sample Deployment and Job', async () => {
  await page.locator('#manifest-example').selectOption('samples/deployment.yaml');
  await settled(page);
  const articles = page.locator('#objects article');
  assert.equal(await articles.count(), 2);
  assert.equal(await articles.nth(0).locator('.title').textContent(), 'Deployment payments/ledger');
  assert.equal(await articles.nth(0).getAttribute('data-verdict'), 'injected');
  assert.match(await articles.nth(0).locator('[data-test=policy-server]').textContent(), /namespace payments matches/);
  assert.equal(await articles.nth(1).locator('.title').textContent(), 'Job payments/ledger-migrate');
  assert.equal(await articles.nth(1).getAttribute('data-verdict'), 'not injected');
  assert.equal(await articles.nth(1).locator('[data-test=reason]').textContent(), "The Pod's label sidecar.istio.io/inject is \"false\".");
  assert.match(await page.locator('#skipped').textContent(), /Namespace payments \(document 1\)/);
  assert.match(await page.locator('#output').textContent(), /name: istio-proxy/);
});

test('other example policies load from the menu', async () => {
  await page.locator('#manifest-example').selectOption('examples/pod.yaml');
  await settled(page);
  await fill(page, '#namespace-labels', 'istio-injection: disabled');
  await page.locator('#policy-example').selectOption('examples/opt-out.yaml');
  await settled(page);
  assert.match(await page.locator('#policy').inputValue(), /operator: NotIn/);
  const result = await shown();
  assert.equal(result.verdict, 'not injected');
  assert.equal(result.row, '7');
  await fill(page, '#namespace-labels', '');
  assert.equal((await shown()).verdict, 'injected');
});

test('the server serves the built site only, the module as application/wasm', async () => {
  const wasm = await fetch(new URL('pkg/sidecar_injector_playground_bg.wasm', playground.url));
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal((await fetch(`${playground.url}..%2fpackage.json`)).status, 403);
  assert.equal((await fetch(`${playground.url}no-such-file.js`)).status, 404);
});

test('the page logged no error and loaded every resource', () => {
  assert.deepEqual(playground.problems, []);
});
