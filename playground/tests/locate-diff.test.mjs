// The page's two helpers: where an error's field path is in the text, and the line diff.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { diffLines } from '../www/diff.js';
import { locate, parsePath } from '../www/locate.js';
import { repoFile } from './helpers.mjs';

const POLICY = repoFile('examples/opt-in.yaml');
const POD = repoFile('examples/pod.yaml');

function lineOf(text, needle, from = 0) {
  const lines = text.split('\n');
  const index = lines.findIndex((line, i) => i >= from && line.includes(needle));
  assert.ok(index >= 0, `${needle} is in the text`);
  return index + 1;
}

test('locate: field paths of error messages, in block and flow YAML', () => {
  assert.deepEqual(parsePath('spec.template.containers[0].env[12].name'), ['spec', 'template', 'containers', 0, 'env', 12, 'name']);
  const cases = [
    ['spec.settings.policy', lineOf(POLICY, '    policy: enabled')],
    ['spec.namespaceSelector.matchExpressions[0].operator', lineOf(POLICY, 'operator: In')],
    ['spec.settings.template.initContainers[0].args[4]', lineOf(POLICY, '- "15006"')],
    ['spec.settings.template.containers[0].env[3].valueFrom', lineOf(POLICY, 'fieldPath: metadata.namespace')],
    // Flow mappings: the line that holds them.
    ['spec.settings.template.volumes[2].emptyDir.medium', lineOf(POLICY, 'name: istio-envoy, emptyDir')],
    // Keys with dots.
    ['spec.settings.template.annotations.kubectl.kubernetes.io/default-container', lineOf(POLICY, 'kubectl.kubernetes.io/default-container:')],
    // A missing field: the deepest line there is.
    ['spec.settings.template.containers[0].imagePullPolicyy', lineOf(POLICY, '- name: istio-proxy')],
    ['spec.settings.polcy', lineOf(POLICY, '  settings:')],
  ];
  for (const [path, line] of cases) assert.equal(locate(POLICY, path), line, path);
  assert.equal(locate(POD, 'metadata.annotations.sidecar.istio.io/proxyCPU'), lineOf(POD, 'sidecar.istio.io/proxyCPU'));
  assert.equal(locate(POD, 'spec.containers[0].resources.requests.cpu'), lineOf(POD, 'requests: { cpu: 250m'));
  assert.equal(locate(POD, 'spec.containers[3].name'), lineOf(POD, '  containers:'));
  assert.equal(locate(POD, 'nothing.here'), null);
  // A label key given whole, as the page does for namespace labels.
  assert.equal(locate('team: a\nistio.io/rev: x\n', ['istio.io/rev']), 2);
});

test('locate: sequences at their key\'s indentation, JSON, and documents of a stream', () => {
  const compact = 'spec:\n  containers:\n  - name: a\n    image: a\n  - name: b\n    image: b\n  volumes: []\n';
  assert.equal(locate(compact, 'spec.containers[1].image'), 6);
  assert.equal(locate(compact, 'spec.volumes'), 7);
  const json = JSON.stringify({ spec: { containers: [{ name: 'a' }], hostNetwork: true } }, null, 2);
  assert.equal(locate(json, 'spec.hostNetwork'), lineOf(json, '"hostNetwork"'));
  // In a document that starts at line 10 of the stream.
  assert.equal(locate('---\nkind: Pod\nspec:\n  containers: x\n', 'spec.containers', 10), 13);
});

test('diff: the lines injection adds are marked, the rest kept in order', () => {
  const before = 'a\nb\nc\nd\n';
  const after = 'a\nx\nb\nc\ny\nz\nd\n';
  assert.deepEqual(diffLines(before, after), [
    { op: ' ', text: 'a' },
    { op: '+', text: 'x' },
    { op: ' ', text: 'b' },
    { op: ' ', text: 'c' },
    { op: '+', text: 'y' },
    { op: '+', text: 'z' },
    { op: ' ', text: 'd' },
  ]);
  assert.deepEqual(diffLines('a\nb\n', 'b\n'), [{ op: '-', text: 'a' }, { op: ' ', text: 'b' }]);
  assert.deepEqual(diffLines('', ''), []);
});

test('diff: minimal on random inputs (against a longest common subsequence)', () => {
  let seed = 11;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const lcs = (a, b) => {
    const table = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    return table[0][0];
  };
  for (let round = 0; round < 2000; round++) {
    const lines = () => Array.from({ length: random(14) }, () => 'abcde'[random(5)]);
    const a = lines();
    const b = lines();
    const edits = diffLines(a.map((l) => `${l}\n`).join(''), b.map((l) => `${l}\n`).join(''));
    assert.deepEqual(edits.filter((e) => e.op !== '+').map((e) => e.text), a);
    assert.deepEqual(edits.filter((e) => e.op !== '-').map((e) => e.text), b);
    assert.equal(edits.filter((e) => e.op === ' ').length, lcs(a, b), `${a} / ${b}`);
  }
});
