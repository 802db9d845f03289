// Finds the line of a field in YAML (or indented JSON) text from the path an error message
// gives, such as `spec.settings.template.containers[0].imagePullPolicyy`, so that the page can
// point at it. It reads the text line by line, by indentation: block mappings and sequences are
// followed; within flow collections (`{ name: a }`, `[a, b]`) it stops at the line that holds
// them. When a segment cannot be found (a field that is missing, for instance), the deepest
// line found is the answer.

/** `a.b[0].c` → ['a', 'b', 0, 'c']. Keys may contain dots (label keys): see `locate`. */
export function parsePath(path) {
  const segments = [];
  for (const part of path.split('.')) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      segments.push(part);
      continue;
    }
    if (match[1] !== '') segments.push(match[1]);
    for (const index of match[2].matchAll(/\[(\d+)\]/g)) segments.push(Number(index[1]));
  }
  return segments;
}

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Each line's indentation, and the indentation of the key it starts with after `- ` markers. */
function describe(line) {
  const indent = line.length - line.trimStart().length;
  const markers = /^(?:-(?: +|$))*/.exec(line.slice(indent))[0];
  return { indent, keyIndent: indent + markers.length, dash: markers.length > 0, rest: line.slice(indent + markers.length) };
}

function isContent(line) {
  const trimmed = line.trim();
  return trimmed !== '' && !trimmed.startsWith('#') && trimmed !== '---' && trimmed !== '...';
}

/**
 * The 1-based line of `path` in `text`, or null when not even its first segment is there.
 * `firstLine` is the line where `text` starts in the editor (for one document of a stream).
 */
export function locate(text, path, firstLine = 1) {
  const lines = text.split('\n');
  const segments = typeof path === 'string' ? parsePath(path) : path;
  let node = { start: 0, end: lines.length, line: null, indent: -1 };
  let found = null;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    let next = null;
    if (typeof segment === 'number') {
      next = findItem(lines, node, segment);
    } else {
      // A key may hold dots (`sidecar.istio.io/inject`): the longest run of segments that is a
      // key wins.
      let last = i;
      while (last + 1 < segments.length && typeof segments[last + 1] === 'string') last++;
      for (let j = last; j >= i && next === null; j--) {
        next = findKey(lines, node, segments.slice(i, j + 1).join('.'));
        if (next !== null) i = j;
      }
    }
    if (next === null) break;
    node = next;
    found = next.line;
    if (next.flow) break;
  }
  return found === null ? null : found + firstLine;
}

function findKey(lines, node, key) {
  const pattern = new RegExp(`^(["']?)${escape(key)}\\1\\s*:(\\s|$)`);
  let best = null;
  for (let n = node.start; n < node.end; n++) {
    if (!isContent(lines[n])) continue;
    const line = describe(lines[n]);
    if (line.keyIndent <= node.indent) continue;
    if (pattern.test(line.rest) && (best === null || line.keyIndent < best.keyIndent)) {
      best = { n, keyIndent: line.keyIndent };
    }
  }
  if (best !== null) {
    const end = blockEnd(lines, best.n, best.keyIndent, node.end);
    return { start: best.n + 1, end, line: best.n, indent: best.keyIndent };
  }
  // Flow style: `{ name: a, image: b }` on one line.
  const flow = new RegExp(`[{,]\\s*(["']?)${escape(key)}\\1\\s*:`);
  for (let n = node.line ?? node.start; n < node.end; n++) {
    if (isContent(lines[n]) && flow.test(lines[n])) return { start: n, end: n + 1, line: n, flow: true };
  }
  return null;
}

/** Where the value of the key at line `at` (its key at `indent`) ends. */
function blockEnd(lines, at, indent, limit) {
  for (let n = at + 1; n < limit; n++) {
    if (!isContent(lines[n])) continue;
    const line = describe(lines[n]);
    // A block sequence may sit at its key's indentation.
    if (line.indent < indent || (line.indent === indent && !line.dash)) return n;
  }
  return limit;
}

function findItem(lines, node, index) {
  let dashIndent = null;
  const items = [];
  for (let n = node.start; n < node.end; n++) {
    if (!isContent(lines[n])) continue;
    const line = describe(lines[n]);
    if (!line.dash) continue;
    if (dashIndent === null || line.indent < dashIndent) {
      dashIndent = line.indent;
      items.length = 0;
    }
    if (line.indent === dashIndent) items.push(n);
  }
  if (index >= items.length) return null;
  const start = items[index];
  const end = index + 1 < items.length ? items[index + 1] : node.end;
  return { start, end, line: start, indent: dashIndent };
}
