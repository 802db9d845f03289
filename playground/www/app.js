// The playground page: reads the inputs, asks the engine (the policy's own code, in WebAssembly)
// and shows, for each Pod or workload, the verdict, the reason, the truth-table row, the policy
// server's verdict, hints, the object after injection with its changes highlighted, and the
// JSONPatch. Inputs are re-evaluated as they are edited.

import { Engine } from './engine.js';
import { diffLines } from './diff.js';
import { locate } from './locate.js';

const DEBOUNCE_MS = 150;

const INPUT_NAMES = {
  policy: 'Policy',
  manifest: 'Pod or workload',
  namespace: 'Namespace',
  namespaceLabels: 'Namespace labels',
  internal: 'Playground',
};

const $ = (selector, root = document) => root.querySelector(selector);

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(properties)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'class') node.className = value;
    else node[key] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// ---------------------------------------------------------------------------------------------
// Editors: a textarea with line numbers and a band that marks the line an error points at.

class Editor {
  constructor(textarea) {
    this.textarea = textarea;
    const editor = textarea.closest('.editor');
    this.gutter = $('.gutter', editor);
    this.mark = $('.mark', editor);
    this.line = null;
    textarea.addEventListener('input', () => this.refresh());
    textarea.addEventListener('scroll', () => this.sync());
    this.refresh();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.refresh();
  }

  refresh() {
    const count = this.textarea.value.split('\n').length;
    if (this.gutter.dataset.count !== String(count)) {
      this.gutter.textContent = Array.from({ length: count }, (_, i) => i + 1).join('\n') + '\n';
      this.gutter.dataset.count = String(count);
    }
    this.sync();
  }

  metrics() {
    const style = getComputedStyle(this.textarea);
    return { lineHeight: parseFloat(style.lineHeight), padding: parseFloat(style.paddingTop) };
  }

  sync() {
    this.gutter.scrollTop = this.textarea.scrollTop;
    if (this.line === null) {
      this.mark.hidden = true;
      return;
    }
    const { lineHeight, padding } = this.metrics();
    this.mark.hidden = false;
    this.mark.style.height = `${lineHeight}px`;
    this.mark.style.top = `${padding + (this.line - 1) * lineHeight - this.textarea.scrollTop}px`;
  }

  /** Marks a line (1-based), or none with null. */
  markLine(line) {
    this.line = line;
    this.textarea.closest('.editor').classList.toggle('has-error', line !== null);
    this.sync();
  }

  /** Puts the cursor at the start of a line and scrolls it into view. */
  reveal(line) {
    const lines = this.textarea.value.split('\n');
    const offset = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    const { lineHeight } = this.metrics();
    this.textarea.focus({ preventScroll: true });
    this.textarea.setSelectionRange(offset, offset);
    this.textarea.scrollTop = Math.max(0, (line - 1) * lineHeight - this.textarea.clientHeight / 3);
    this.textarea.closest('.field').scrollIntoView({ block: 'nearest' });
    this.sync();
  }
}

const editors = {
  policy: new Editor($('#policy')),
  manifest: new Editor($('#manifests')),
  namespaceLabels: new Editor($('#namespace-labels')),
};
const namespaceInput = $('#namespace');
const fieldOf = {
  policy: $('#field-policy'),
  manifest: $('#field-manifest'),
  namespace: $('#field-namespace'),
  namespaceLabels: $('#field-namespace'),
};

function inputs() {
  return {
    policy: editors.policy.value,
    manifests: editors.manifest.value,
    namespace: namespaceInput.value,
    namespaceLabels: editors.namespaceLabels.value,
  };
}

// ---------------------------------------------------------------------------------------------
// Where errors point.

/** The lines of the document that starts at `line` (1-based) in a stream. */
function documentAt(text, line) {
  const lines = text.split('\n').slice(line - 1);
  const marker = /^(---|\.\.\.)(\s|$)/;
  const start = lines.length > 0 && marker.test(lines[0]) ? 1 : 0;
  let end = lines.findIndex((l, i) => i >= start && marker.test(l));
  if (end === -1) end = lines.length;
  return { text: lines.slice(0, end).join('\n'), firstLine: line };
}

/** The input and line (1-based, or null) an error points at. */
function pointOf(error, result, object) {
  if (error.line) return { input: error.input, line: error.line, column: error.column ?? null };
  if (error.input === 'policy') {
    let path = error.path ?? null;
    if (error.settingsPath) {
      const kind = result.policy?.kind;
      path = kind && kind !== 'settings' ? `spec.settings.${error.settingsPath}` : error.settingsPath;
    }
    return { input: 'policy', line: path ? locate(editors.policy.value, path) : null };
  }
  if (error.input === 'namespaceLabels') {
    return { input: 'namespaceLabels', line: error.path ? locate(editors.namespaceLabels.value, [error.path]) : null };
  }
  if (error.input === 'manifest' && object) {
    const document = documentAt(editors.manifest.value, object.line);
    const line = error.path ? locate(document.text, error.path, document.firstLine) : null;
    return { input: 'manifest', line: line ?? object.line };
  }
  return { input: error.input, line: null };
}

function reveal(point) {
  if (point.input === 'namespace') {
    namespaceInput.focus();
    return;
  }
  const editor = editors[point.input];
  if (editor && point.line) editor.reveal(point.line);
}

function jumpButton(point, label) {
  if (!point.line && point.input !== 'namespace') return null;
  const text = label ?? (point.line
    ? `${INPUT_NAMES[point.input]}, line ${point.line}${point.column ? `, column ${point.column}` : ''}`
    : INPUT_NAMES[point.input]);
  const button = element('button', { type: 'button', class: 'link jump', textContent: text });
  button.addEventListener('click', () => reveal(point));
  return button;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

function clearMarks() {
  for (const editor of Object.values(editors)) editor.markLine(null);
  for (const field of new Set(Object.values(fieldOf))) {
    const message = $('.field-error', field);
    message.hidden = true;
    message.textContent = '';
    field.classList.remove('invalid');
  }
}

function markField(point, message) {
  const field = fieldOf[point.input];
  if (!field) return;
  field.classList.add('invalid');
  const box = $('.field-error', field);
  const first = message.split('\n')[0];
  const where = point.line ? `line ${point.line}: ` : '';
  box.textContent = box.hidden ? `${where}${first}` : `${box.textContent}\n${where}${first}`;
  box.hidden = false;
  const editor = editors[point.input];
  if (editor && point.line && editor.line === null) editor.markLine(point.line);
}

function renderErrors(result) {
  const container = $('#errors');
  container.replaceChildren();
  if (result.errors.length === 0) return;
  const list = element('div', { class: 'error-box', dataset: { test: 'errors' } },
    element('h2', { textContent: 'Nothing was evaluated: an input cannot be used' }));
  for (const error of result.errors) {
    const point = pointOf(error, result);
    markField(point, error.message);
    list.append(element('div', { class: 'error', dataset: { test: 'error', input: error.input } },
      element('div', { class: 'error-head' },
        element('strong', { textContent: INPUT_NAMES[error.input] ?? error.input }),
        jumpButton(point)),
      element('pre', { class: 'message', textContent: error.message })));
  }
  container.append(list);
}

function renderPolicy(result) {
  const container = $('#policy-summary');
  container.replaceChildren();
  const policy = result.policy;
  if (!policy) return;
  let scope;
  if (policy.kind === 'ClusterAdmissionPolicy') {
    scope = `ClusterAdmissionPolicy: the policy server calls the policy in namespaces matching ${policy.namespaceSelector}`;
  } else if (policy.kind === 'AdmissionPolicy') {
    scope = `AdmissionPolicy in namespace ${policy.namespace}: the policy server calls the policy for that namespace's Pods only`;
  } else {
    scope = 'Settings alone: which namespaces the policy server calls the policy in is not known, so each decision is given as if it were called';
  }
  if (policy.objectSelector) scope += `, for Pods matching the objectSelector ${policy.objectSelector}`;
  container.append(element('p', { class: 'scope', textContent: `${scope}. Default policy: ${policy.policy}.` }));
  if (policy.warnings.length > 0) {
    container.append(element('ul', { class: 'policy-warnings', dataset: { test: 'policy-warnings' } },
      ...policy.warnings.map((warning) => element('li', { textContent: warning }))));
  }
}

// The seed truth table comes with the result, from the library (SEED_TABLE in src/explain.rs), as
// do the row that applies and every word of the verdicts.
function renderTable(article, object, seedTable) {
  const row = object.row;
  const body = $('tbody', article);
  seedTable.forEach((cells, index) => {
    const current = row.seedRow === index + 1;
    const tr = element('tr', { class: current ? 'current' : '' },
      ...cells.map((cell) => element('td', { textContent: cell })));
    if (current) tr.setAttribute('aria-current', 'true');
    tr.dataset.row = String(index + 1);
    body.append(tr);
  });
  let caption;
  if (row.seedRow) {
    caption = `Seed truth table: row ${row.seedRow} applies`;
    if (row.namespaceSelectorMatch === null) caption += ' (the namespaceSelector match is assumed: the policy server\'s side is not known)';
  } else {
    caption = `Seed truth table: no row applies. ${row.text.replace(/^outside the seed table: /, 'Decided ')}`;
  }
  $('caption', article).textContent = caption;
  article.dataset.row = row.seedRow ? String(row.seedRow) : 'none';
}

function renderDiff(article, object) {
  const lines = diffLines(object.before, object.after);
  const added = lines.filter((line) => line.op === '+').length;
  const removed = lines.filter((line) => line.op === '-').length;
  const pre = $('.diff', article);
  pre.replaceChildren(...lines.map((line) => element('span', {
    class: line.op === '+' ? 'line add' : line.op === '-' ? 'line del' : 'line',
    textContent: `${line.op} ${line.text}\n`,
  })));
  const what = object.kind === 'Pod' ? 'The Pod' : `The ${object.kind}`;
  $('.diff-block summary', article).textContent = added + removed === 0
    ? `${what} as stored: unchanged`
    : `${what} after injection: ${added} line${added === 1 ? '' : 's'} added${removed ? `, ${removed} removed` : ''}`;
  article.dataset.added = String(added);
}

function renderPatch(article, object) {
  const count = object.patch.length;
  $('.patch-block summary', article).textContent = `JSONPatch: ${count} operation${count === 1 ? '' : 's'}`;
  $('.patch', article).textContent = JSON.stringify(object.patch, null, 2);
}

function renderObject(object, result) {
  const article = $('#object-template').content.firstElementChild.cloneNode(true);
  const where = object.path ? `document ${object.document}, ${object.path}` : `document ${object.document}`;
  const documentPoint = { input: 'manifest', line: object.line };
  const whereButton = $('.where', article);
  whereButton.textContent = where;
  whereButton.addEventListener('click', () => reveal(documentPoint));
  if (object.error) {
    article.classList.add('failed');
    article.dataset.verdict = 'error';
    $('.verdict', article).textContent = 'error';
    $('.title', article).textContent = object.name;
    const point = pointOf(object.error, result, object);
    markField(point, object.error.message);
    const reason = $('.reason', article);
    reason.replaceChildren(element('pre', { class: 'message', dataset: { test: 'object-error' }, textContent: object.error.message }),
      jumpButton(point));
    for (const selector of ['.facts', '.table-block', '.diff-block', '.patch-block']) $(selector, article).remove();
    return article;
  }
  article.dataset.verdict = object.verdict;
  $('.verdict', article).textContent = object.verdict;
  $('.title', article).textContent = object.title;
  $('.reason', article).textContent = `${capitalize(object.reason)}.`;
  const server = object.policyServer;
  $('.policy-server', article).textContent = `${server.verdict}: ${server.reason}`;
  $('.policy-server', article).dataset.calls = String(server.calls);
  const decision = object.decision;
  const decisionText = `step ${decision.step}: ${decision.reason} → ${decision.inject ? 'inject' : 'do not inject'}`;
  $('.decision', article).textContent = server.calls === false ? `if it were called, ${decisionText}` : decisionText;
  // What the injection did beyond the template: the named templates applied, the probes rewritten,
  // the placement the Pod chose, the network set up after the Pod's own init containers, the
  // Prometheus metrics merge.
  const after = object.afterOwnInitContainers ?? [];
  const injection = {
    templates: object.templates?.length > 0 ? object.templates.join(', ') : null,
    probes: object.probes ? `rewritten to the agent's status port ${object.probes.statusPort}: ${object.probes.rewritten.join(', ')}` : null,
    placement: object.placement?.length > 0 ? `as the Pod chose: ${object.placement.join('; ')}` : null,
    network: after.length > 0 ? `set up after the Pod's own init containers: ${after.join(', ')}` : null,
    // Only when the Pod's own scrape annotations were replaced, as in the CLI.
    metrics: Object.keys(object.metrics?.replaced ?? {}).length > 0 ? `merged: ${object.metrics.text}` : null,
  };
  // A Pod that carries the sidecar already (a running Pod): whether it is stale, by its revision's
  // name and hash against the policy's, as `check` says it.
  const facts = { ...injection, sidecar: object.sidecar?.verdict ?? null };
  for (const [name, text] of Object.entries(facts)) {
    if (text === null) continue;
    $(`.${name}-term`, article).hidden = false;
    $(`.${name}`, article).hidden = false;
    $(`.${name}`, article).textContent = text;
  }
  if (object.warning) {
    const warning = $('.warning', article);
    warning.hidden = false;
    warning.textContent = `kubectl shows the person creating the Pod: Warning: ${object.warning}`;
  }
  if (object.hints.length > 0) {
    const hints = $('.hints', article);
    hints.hidden = false;
    hints.append(...object.hints.map((hint) => element('li', { textContent: `Hint: ${hint}` })));
  }
  renderTable(article, object, result.seedTable);
  renderDiff(article, object);
  renderPatch(article, object);
  return article;
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function render(result, elapsed) {
  clearMarks();
  renderErrors(result);
  renderPolicy(result);
  const objects = $('#objects');
  objects.replaceChildren(...result.objects.map((object) => renderObject(object, result)));
  const skipped = $('#skipped');
  skipped.hidden = result.skipped.length === 0;
  skipped.textContent = result.skipped.length === 0 ? '' : `Holding no Pod, not evaluated: ${result.skipped
    .map((object) => `${object.kind || '(no kind)'} ${object.name || '(unnamed)'} (document ${object.document})`).join(', ')}.`;
  const output = $('#output-block');
  // As `inject`: nothing to write when no object changed, or when one cannot be evaluated.
  const written = result.objects.some((object) => object.injected) && result.output !== '';
  output.hidden = !written;
  $('#output').textContent = written ? result.output : '';
  $('#copy-output').textContent = 'Copy';
  const status = $('#status');
  if (result.errors.length > 0) {
    status.textContent = `Evaluated in ${elapsed.toFixed(0)} ms: fix the input below.`;
  } else if (result.objects.length === 0) {
    status.textContent = 'No Pod or workload in the manifests.';
  } else {
    const injected = result.objects.filter((object) => object.injected).length;
    const count = result.objects.length;
    status.textContent = `Evaluated in ${elapsed.toFixed(0)} ms: ${count} object${count === 1 ? '' : 's'}, sidecar injected into ${injected}.`;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation, debounced, latest input wins.

let engine = null;
let timer = null;
let generation = 0;

async function evaluateNow() {
  clearTimeout(timer);
  timer = null;
  if (!engine) return;
  const mine = ++generation;
  const started = performance.now();
  const result = await engine.evaluate(inputs());
  if (mine !== generation) return;
  render(result, performance.now() - started);
  document.body.dataset.evaluations = String(Number(document.body.dataset.evaluations ?? 0) + 1);
  // Still pending when an edit came in meanwhile: its evaluation is scheduled.
  document.body.dataset.pending = timer === null ? 'false' : 'true';
}

function schedule() {
  document.body.dataset.pending = 'true';
  clearTimeout(timer);
  timer = setTimeout(evaluateNow, DEBOUNCE_MS);
}

async function loadExample(path, editor) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  editor.value = await response.text();
}

function wire() {
  for (const editor of Object.values(editors)) editor.textarea.addEventListener('input', schedule);
  namespaceInput.addEventListener('input', schedule);
  for (const [select, editor] of [[$('#policy-example'), editors.policy], [$('#manifest-example'), editors.manifest]]) {
    select.addEventListener('change', async () => {
      document.body.dataset.pending = 'true';
      await loadExample(select.value, editor);
      await evaluateNow();
    });
  }
  $('#copy-output').addEventListener('click', async () => {
    const button = $('#copy-output');
    try {
      await navigator.clipboard.writeText($('#output').textContent);
      button.textContent = 'Copied';
    } catch (error) {
      button.textContent = `Not copied: ${error.message}`;
    }
  });
}

async function start() {
  document.body.dataset.pending = 'true';
  try {
    await Promise.all([
      loadExample($('#policy-example').value, editors.policy),
      loadExample($('#manifest-example').value, editors.manifest),
    ]);
    engine = await Engine.load();
  } catch (error) {
    $('#status').textContent = `The playground could not start: ${error.message}`;
    $('#status').classList.add('failed');
    document.body.dataset.pending = 'false';
    return;
  }
  wire();
  await evaluateNow();
}

start();
