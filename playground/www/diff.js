// A line diff (Myers' O(ND) algorithm) between an object's YAML before and after injection, for
// the page to highlight the lines the sidecar added (and the few it moved).

/** Edits beyond this many are shown as one replacement rather than searched for. */
const MAX_EDITS = 4000;

/**
 * The lines of `after` and the removed lines of `before`, in order, each as `{op, text}` with
 * `op` one of ' ' (kept), '+' (added) and '-' (removed).
 */
export function diffLines(before, after) {
  const a = splitLines(before);
  const b = splitLines(after);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  ) {
    suffix++;
  }
  const middle = myers(a.slice(prefix, a.length - suffix), b.slice(prefix, b.length - suffix));
  return [
    ...a.slice(0, prefix).map((text) => ({ op: ' ', text })),
    ...middle,
    ...a.slice(a.length - suffix).map((text) => ({ op: ' ', text })),
  ];
}

function splitLines(text) {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function myers(a, b) {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDITS);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])
          ? v[offset + k + 1]
          : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b);
    }
  }
  // Too different to be worth searching: everything before, then everything after.
  return [...a.map((text) => ({ op: '-', text })), ...b.map((text) => ({ op: '+', text }))];
}

function backtrack(trace, a, b) {
  const edits = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    // trace[d] holds v[k] for k in [-d-1, d+1] before step d.
    const at = (k) => trace[d][k + d + 1];
    const k = x - y;
    const previous = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const previousX = at(previous);
    const previousY = previousX - previous;
    while (x > previousX && y > previousY) {
      edits.push({ op: ' ', text: a[--x] });
      y--;
    }
    if (d > 0) {
      if (x === previousX) edits.push({ op: '+', text: b[--y] });
      else edits.push({ op: '-', text: a[--x] });
    }
  }
  return edits.reverse();
}
