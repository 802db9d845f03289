// The playground's engine: the wasm-bindgen bindings of playground/wasm (the sidecar-injector
// library's own decision and injection), used by the page and by the tests in node alike.
//
// `evaluate` never throws. The library does not panic on input; if it ever did, the module would
// trap (it is built with panic = "abort"), so the trap is turned into an error value carrying the
// panic's message, and the next evaluation runs in a fresh instance of the module.

const GLUE = new URL('./pkg/sidecar_injector_playground.js', import.meta.url);
const WASM = new URL('./pkg/sidecar_injector_playground_bg.wasm', import.meta.url);

let instances = 0;

async function compile(source) {
  if (source !== undefined) return WebAssembly.compile(source);
  const response = await fetch(WASM);
  if (!response.ok) throw new Error(`${WASM.pathname}: HTTP ${response.status}`);
  return WebAssembly.compile(await response.arrayBuffer());
}

export class Engine {
  #module;
  #bindings;

  constructor(module) {
    this.#module = module;
  }

  /** Loads the module: from `source` (its bytes) when given, else fetched next to this file. */
  static async load(source) {
    const engine = new Engine(await compile(source));
    await engine.#instantiate();
    return engine;
  }

  async #instantiate() {
    // Each import of the glue with another query is a module of its own, with its own instance.
    instances += 1;
    const bindings = await import(`${GLUE.href}?instance=${instances}`);
    bindings.initSync({ module: this.#module });
    this.#bindings = bindings;
  }

  /**
   * The result of the library for these inputs (see `evaluate` in playground/wasm/src/lib.rs):
   * `{errors, policy, objects, skipped, output, seedTable}`.
   */
  async evaluate({ policy, manifests, namespace, namespaceLabels }) {
    const texts = { policy, manifests, namespace, namespaceLabels };
    for (const [name, text] of Object.entries(texts)) {
      if (typeof text !== 'string') return failure(`evaluate: ${name}: expected a string, got ${typeof text}`);
    }
    try {
      return JSON.parse(this.#bindings.evaluate(policy, manifests, namespace, namespaceLabels));
    } catch (error) {
      const panic = globalThis.sidecarInjectorPanic;
      delete globalThis.sidecarInjectorPanic;
      // After a trap the instance's stack and heap are not to be trusted: start another.
      await this.#instantiate();
      return failure(`internal error in sidecar-injector (please report it with these inputs): ${panic ?? error.message}`);
    }
  }

  /** For tests: makes the next evaluation fail as a trap would. */
  simulateTrap(message) {
    const bindings = this.#bindings;
    this.#bindings = {
      ...bindings,
      evaluate() {
        globalThis.sidecarInjectorPanic = message;
        throw new WebAssembly.RuntimeError('unreachable');
      },
    };
  }
}

function failure(message) {
  return { errors: [{ input: 'internal', message }], policy: null, objects: [], skipped: [], output: '', seedTable: [] };
}
