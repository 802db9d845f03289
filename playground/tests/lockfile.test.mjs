// The playground's module is built from the same crates as the policy module: every version of a
// crate both lock files hold is one the root's pins, so that the browser runs the policy's code with
// the policy's dependencies (serde-saphyr, minijinja, serde_json…), not newer ones. The root may pin
// more versions of a crate than the playground uses: the Kubewarden SDK's derives and the tests'
// macros need syn 2, beside the syn 3 that the playground's own derives use.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { repoFile } from './helpers.mjs';

function versions(lock) {
  const packages = new Map();
  for (const [, name, version] of lock.matchAll(/^name = "([^"]+)"\nversion = "([^"]+)"$/gm)) {
    packages.set(name, [...(packages.get(name) ?? []), version].sort());
  }
  return packages;
}

test('lock files: playground/wasm/Cargo.lock pins the crates of the root Cargo.lock as it does', () => {
  const root = versions(repoFile('Cargo.lock'));
  const playground = versions(repoFile('playground/wasm/Cargo.lock'));
  const differ = [...playground]
    .filter(([name, pinned]) => root.has(name) && pinned.some((version) => !root.get(name).includes(version)))
    .map(([name, pinned]) => `${name}: ${pinned.join(', ')} here, ${root.get(name).join(', ')} in the root's`);
  assert.deepEqual(
    differ,
    [],
    'to take the root lock file over: cp Cargo.lock playground/wasm/Cargo.lock && cargo metadata --format-version 1 --manifest-path playground/wasm/Cargo.toml >/dev/null',
  );
  assert.ok(playground.has('sidecar-injector') && playground.has('wasm-bindgen'));
});
