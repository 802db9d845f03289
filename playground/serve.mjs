// Serves the built playground (playground/dist) on 127.0.0.1 and prints its URL.
//   node playground/serve.mjs [--port N] [--root DIR]
// The tests start the same server on a free port (`serve({ port: 0 })`).
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.yaml': 'text/yaml; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

export const DIST = fileURLToPath(new URL('./dist/', import.meta.url));

export function serve({ root = DIST, port = 8000, host = '127.0.0.1' } = {}) {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      response.writeHead(403).end('forbidden\n');
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      response.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolvePromise({ server, url: `http://${host}:${actual}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const option = (name, fallback) => {
    const at = process.argv.indexOf(name);
    return at === -1 ? fallback : process.argv[at + 1];
  };
  const port = Number(option('--port', process.env.PLAYGROUND_PORT ?? 8000));
  const root = option('--root', DIST);
  try {
    await stat(join(root, 'pkg'));
  } catch {
    console.error(`playground: ${root} has no pkg/: build it first (make playground)`);
    process.exit(1);
  }
  try {
    const { url } = await serve({ root, port });
    console.log(`playground: serving ${root} at ${url}  (Ctrl-C to stop)`);
  } catch (error) {
    console.error(`playground: cannot listen on 127.0.0.1:${port}: ${error.message} (set PLAYGROUND_PORT)`);
    process.exit(1);
  }
}
