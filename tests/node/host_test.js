'use strict';
// host_test.js — LabFlow inside Node.js through better-sqlite3 v12.
//
//   node tests/node/host_test.js            the driver: runs each scenario in a
//                                           child node, prints PASS/FAIL lines
//   node tests/node/host_test.js child NAME EXT DIR   one scenario
//
// Each scenario runs in its own child process so that its exit status (a
// crash at db.close() or at exit shows there) and its stderr (the progress
// lines) can be checked. A child prints "R <step> <json>" per step.
// better-sqlite3 comes from tests/node/.deps (tools/host-deps.sh installs
// it there) or from NODE_PATH.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const T = 'hosts_node';

// better-sqlite3 from tests/node/.deps, else wherever node finds it.
const DEPS = path.join(__dirname, '.deps', 'node_modules');
function resolveBetterSqlite3(file) {
  return require.resolve(file, { paths: [DEPS].concat(module.paths) });
}
function loadBetterSqlite3() {
  return require(resolveBetterSqlite3('better-sqlite3'));
}

const SETTINGS = { metrics: ['accuracy'], threads: 2 };
const CONFIG = {
  model: { loc: 'Sequential', args: { layers: [
    { loc: 'Linear', args: { out: 8 } }, { loc: 'ReLU' },
    { loc: 'Linear', args: { out: 2 } }] } },
  dataset: { loc: 'csv', args: { label: 'y' } },
  train_data_src: 'd.csv', val_data_src: 'd.csv',
  loss: { loc: 'CrossEntropyLoss' },
  optimizer: { loc: 'Adam', args: { lr: 0.01 } },
  metrics: { accuracy: { loc: 'Accuracy' } },
  train_batch_size: 8,
};

// 40 rows, 3 features, 2 well separated classes.
function writeCsv(file, rows) {
  const lines = ['a,b,c,y'];
  for (let i = 0; i < rows; i++) {
    const y = i % 2, s = 2 * y - 1;
    lines.push([s + ((i * 37) % 11 - 5) / 20, s + ((i * 53) % 13 - 6) / 20,
      s + ((i * 71) % 7 - 3) / 20].map((v) => v.toFixed(3)).join(',') + ',' + y);
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

// ---- parity: the same statements in better-sqlite3 and the sqlite3 shell ----
// better-sqlite3 bundles its own, newer SQLite built with other options than
// Debian's (DQS=0: double-quoted strings are identifiers; foreign keys on;
// THREADSAFE=2; ...). Every SQL function and table must give the same answers
// there as in the shell. Each entry: [name, SQL]; results are compared after
// normalising paths, times and float noise.
const PARITY_SETUP = [
  ['lab_init', `SELECT lab_init('${JSON.stringify({ metrics: ['accuracy'], threads: 2 })}')`],
  ['ppl_new', `SELECT ppl_new('p1', '${JSON.stringify(Object.assign({}, CONFIG, { seed: 1 }))}')`],
  ['ppl_train', "SELECT ppl_train('p1', 2)"],
];
const PARITY = [
  ['lab_settings', "SELECT lab_settings() AS r"],
  ['labflow_help', "SELECT labflow_help('ppl_train') AS r"],
  ['ppl_config', "SELECT ppl_config('p1') AS r"],
  ['ppl_find', "SELECT ppl_find(ppl_config('p1')) AS r"],
  ['ppl_fork', `SELECT ppl_fork('p2', 'p1', '{"optimizer":{"args":{"lr":0.02}}}') AS r`],
  ['ppl_verify', "SELECT ppl_verify('p2') AS r, ppl_verify('nope') AS n"],
  ['ppl_path', "SELECT ppl_path('weight', 'p1', 'best') AS w, ppl_path('history', 'p1') AS h"],
  ['ppls', "SELECT pplid, config_hash, status FROM ppls ORDER BY pplid"],
  ['ppl_train p2', "SELECT json_extract(ppl_train('p2', 1), '$.ended') AS r"],
  ['ppl_history', "SELECT * FROM ppl_history ORDER BY pplid, epoch"],
  ['ppl_status', "SELECT * FROM ppl_status ORDER BY pplid"],
  ['ppl_details', "SELECT * FROM ppl_details ORDER BY pplid"],
  ['ppl_filter chain', "SELECT * FROM ppl_filter('optimizer=Adam>lr=0.02') ORDER BY pplid"],
  ['ppl_filter path', "SELECT * FROM ppl_filter('optimizer>args>lr=0.01') ORDER BY pplid"],
  ['ppl_matching', "SELECT * FROM ppl_matching('p1') ORDER BY key, pplid"],
  ['ppl_weights', "SELECT name, shape, dtype, length(data) AS bytes FROM ppl_weights('p1') ORDER BY name"],
  ['runnings', "SELECT count(*) AS n FROM runnings"],
  ['ppl_predict', "SELECT ppl_predict('p1', '[[1,1,1],[-1,-1,-1]]', 'best', 'class') AS r"],
  ['ppl_evaluate', "SELECT ppl_evaluate('p1', 'd.csv') AS r"],
  ['ppl_is_running', "SELECT ppl_is_running('p1') AS r, ppl_stop('p1') AS s"],
  ['ppl_sync', "SELECT ppl_sync('p1') AS r"],
  ['ppl_plot', "SELECT ppl_plot(NULL, 'loss', ppl_path('config', 'p1') || '.plots') AS r"],
  ['ppl_clean', "SELECT ppl_clean('p1') >= 0 AS r"],
  ['ppl_transfer', "SELECT ppl_transfer('p1', 'export', 'copy') AS r"],
  ['ppl_archive', "SELECT ppl_archive('p2') AS r"],
  ['ppls after archive', "SELECT pplid FROM ppls ORDER BY pplid"],
  ['ppl_unarchive', "SELECT ppl_unarchive('p2') AS r"],
  ['ppl_delete refuses a live pipeline', "SELECT ppl_delete('p2') AS r"],
  ['ppl_delete', "SELECT ppl_archive('p2') + ppl_delete('p2') AS r"],
  ['error: bad pplid', "SELECT ppl_new('../x', '{}') AS r"],
  ['error: unknown pipeline', "SELECT ppl_config('nope') AS r"],
  ['error: bad JSON', "SELECT ppl_fork('p3', 'p1', '{') AS r"],
];

// ---- child scenarios --------------------------------------------------------

function R(name, val) {
  process.stdout.write('R ' + name + ' ' + JSON.stringify(val === undefined ? null : val) + '\n');
}

const scenarios = {
  // load, train with 2 OpenMP threads, query, a failing call, close, exit.
  main(Database, ext, dir) {
    const db = new Database(path.join(dir, 'project.db'));
    db.loadExtension(ext);
    R('loaded', db.prepare('SELECT labflow_version() AS v').get().v);
    R('lab_init', db.prepare('SELECT lab_init(?) AS r').get(JSON.stringify(SETTINGS)).r);
    R('ppl_new', db.prepare("SELECT ppl_new('p1', ?) AS r").get(JSON.stringify(CONFIG)).r);
    R('train', JSON.parse(db.prepare("SELECT ppl_train('p1', 2) AS r").get().r));
    R('history', db.prepare("SELECT epoch, val_accuracy FROM ppl_history('p1') ORDER BY epoch").raw().all());
    try {
      db.prepare("SELECT ppl_new('../x', '{}')").get();
      R('error', null);
    } catch (e) {
      R('error', [e.name, e.code, e.message]);
    }
    R('after_error', db.prepare('SELECT count(*) AS n FROM ppls').get().n);
    R('predict', JSON.parse(db.prepare("SELECT ppl_predict('p1', '[[1,1,1],[-1,-1,-1]]', 'best', 'class') AS r").get().r));
    db.close();
    R('closed', true);
    // The process goes on: another connection loads LabFlow again.
    const db2 = new Database(path.join(dir, 'project.db'));
    db2.loadExtension(ext);
    R('reload', db2.prepare('SELECT count(*) AS n FROM ppl_history').get().n);
    R('resume', JSON.parse(db2.prepare("SELECT ppl_train('p1', 1) AS r").get().r));
    db2.close();
    R('done', true);
  },
  // Project setup, then PARITY in order; one R line per statement.
  parity(Database, ext, dir) {
    const db = new Database(path.join(dir, 'project.db'));
    db.loadExtension(ext);
    for (const [name, sql] of PARITY_SETUP) db.prepare(sql).get();
    R('setup', true);
    PARITY.forEach(([name, sql], i) => {
      try {
        R(`s${i}`, { ok: db.prepare(sql).all() });
      } catch (e) {
        R(`s${i}`, { error: e.message });
      }
    });
    db.close();
    R('done', true);
  },
  // The spike's crash: close right after a 2-thread training, nothing else.
  close_after_threads(Database, ext, dir) {
    const db = new Database(path.join(dir, 'project.db'));
    db.loadExtension(ext);
    db.prepare('SELECT lab_init(?)').get(JSON.stringify(SETTINGS));
    db.prepare("SELECT ppl_new('t2', ?)").get(JSON.stringify(CONFIG));
    R('train', JSON.parse(db.prepare("SELECT ppl_train('t2', 1) AS r").get().r));
    db.close();
    R('closed', true);
    // Let anything the close left behind run before the process ends.
    setTimeout(() => R('done', true), 200);
  },
};

function child(name, ext, dir) {
  const Database = loadBetterSqlite3();
  scenarios[name](Database, ext, dir);
}

// ---- driver -------------------------------------------------------------------

let passed = 0, failed = 0;
function check(name, cond, why) {
  if (cond) { passed++; console.log(`PASS ${T}: ${name}`); } else {
    failed++;
    const w = String(typeof why === 'string' ? why : JSON.stringify(why)).replace(/\s+/g, ' ').slice(0, 400);
    console.log(`FAIL ${T}: ${name}: ${w}`);
  }
  return cond;
}

function status(p) {
  if (p.error) return String(p.error.message);
  if (p.signal) return `killed by signal ${p.signal}`;
  return `exit status ${p.status}`;
}

function run(args, opts) {
  const p = spawnSync(process.execPath, args, Object.assign({ encoding: 'utf8', timeout: 300000 }, opts));
  const steps = {};
  for (const line of (p.stdout || '').split('\n')) {
    const m = /^R (\S+) (.*)$/.exec(line);
    if (m) steps[m[1]] = JSON.parse(m[2]);
  }
  p.steps = steps;
  p.stderr = p.stderr || '';
  return p;
}

// Makes two hosts' results comparable: the project folder becomes @D@, times
// and logids go, numbers keep 4 significant digits (thread-order noise), JSON
// text is parsed and compared as JSON.
const VOLATILE = /(^|_)(time|called_at|logid|runid|started|heartbeat|duration|pid|host)$/;
function norm(v, dir) {
  if (v === undefined) return '(missing)';
  const walk = (x) => {
    if (typeof x === 'string') {
      const t = x.split(dir).join('@D@');
      if (/^[[{]/.test(t)) { try { return walk(JSON.parse(t)); } catch (e) { /* not JSON */ } }
      return t;
    }
    if (typeof x === 'number') return Number.isInteger(x) ? x : Number(x.toPrecision(4));
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') {
      const o = {};
      for (const k of Object.keys(x).sort()) if (!VOLATILE.test(k)) o[k] = walk(x[k]);
      return o;
    }
    return x;
  };
  return walk(v);
}

function checkPlainProgress(n, err, pplid, epochs) {
  const bad = ['\x1b', '\r'].filter((c) => err.includes(c));
  check(`${n}: progress on a non-terminal stderr has no ESC or CR`, bad.length === 0,
    `found ${JSON.stringify(bad)} in stderr: ${JSON.stringify(err.slice(0, 300))}`);
  const missing = epochs.filter((e) => !new RegExp(`^${pplid.replace(/[.]/g, '\\.')} epoch ${e}: .*val_loss=`, 'm').test(err));
  check(`${n}: stderr has a line per epoch ('${pplid} epoch N: ...')`, missing.length === 0,
    `no line for epochs ${missing}; stderr: ${JSON.stringify(err.slice(0, 300))}`);
}

function driver() {
  const ext = (process.env.LF_EXT || path.join(ROOT, 'labflow')) + '.so';
  let Database;
  try {
    Database = loadBetterSqlite3();
    new Database(':memory:').close();
    const v = require(resolveBetterSqlite3('better-sqlite3/package.json')).version;
    check(`better-sqlite3 ${v} is version 12`, v.startsWith('12.'), v);
  } catch (e) {
    check('better-sqlite3 is installed', false, `${e.message.split('\n')[0]} (run sh tools/host-deps.sh)`);
    return;
  }
  if (!check('labflow.so is built', fs.existsSync(ext), `${ext} not found: run make`)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lf-hosts-node-'));
  try {
    // main
    let n = 'main';
    let dir = path.join(tmp, n);
    fs.mkdirSync(dir);
    writeCsv(path.join(dir, 'd.csv'), 40);
    // cwd is elsewhere: relative data paths resolve against the database's folder.
    let p = run([__filename, 'child', n, ext, dir], { cwd: tmp });
    let s = p.steps;
    if (check(`${n}: db.loadExtension() works`, 'loaded' in s, `${status(p)}; stderr: ${p.stderr.slice(-400)}`)) {
      check(`${n}: lab_init returns the artifacts folder`, s.lab_init === path.join(dir, 'project.db') + '.labflow', s.lab_init);
      const tr = s.train || {};
      check(`${n}: ppl_train(p1, 2) finished epochs 1-2`,
        tr.first_epoch === 1 && tr.last_epoch === 2 && tr.ended === 'finished', tr);
      const h = s.history || [];
      check(`${n}: ppl_history has both epochs and learned the separable data`,
        h.length === 2 && h[0][0] === 1 && h[1][0] === 2 && h[1][1] >= 0.9, h);
      const e = s.error || [];
      check(`${n}: a failing call throws SqliteError with LabFlow's message`,
        e[0] === 'SqliteError' && e[2] === "ppl_new: invalid pplid '../x': must not start with '.'", e);
      check(`${n}: the connection works after the error`, s.after_error === 1, s.after_error);
      check(`${n}: ppl_predict`, JSON.stringify(s.predict) === '[1,0]', s.predict);
      check(`${n}: db.close() returns`, s.closed === true, `${status(p)}; stderr: ${p.stderr.slice(-400)}`);
      check(`${n}: a second connection loads LabFlow again`, s.reload === 2, s.reload);
      const r = s.resume || {};
      check(`${n}: training resumes after close/reopen (epoch 3)`, r.first_epoch === 3 && r.last_epoch === 3, r);
      check(`${n}: the process exits 0`, p.status === 0 && s.done === true,
        `${status(p)}; stderr: ${p.stderr.slice(-400)}`);
      checkPlainProgress(n, p.stderr, 'p1', [1, 2, 3]);
    }

    // Close right after a 2-thread training (the spike's segfault): without
    // NODELETE, SQLite's dlclose() at db.close() unmaps libgomp under its
    // worker threads. OMP_WAIT_POLICY=active keeps them spinning in libgomp
    // code after each parallel region, which makes that crash certain.
    n = 'close_after_threads';
    for (const policy of ['', 'active']) {
      dir = path.join(tmp, `${n}-${policy || 'default'}`);
      fs.mkdirSync(dir);
      writeCsv(path.join(dir, 'd.csv'), 40);
      const env = Object.assign({}, process.env);
      if (policy) env.OMP_WAIT_POLICY = policy; else delete env.OMP_WAIT_POLICY;
      p = run([__filename, 'child', n, ext, dir], { cwd: tmp, env });
      s = p.steps;
      check(`${n}: db.close() after training with 2 threads, then exit 0 (OMP_WAIT_POLICY=${policy || 'unset'})`,
        p.status === 0 && s.closed === true && s.done === true && (s.train || {}).ended === 'finished',
        `${status(p)}; steps ${JSON.stringify(s)}; stderr: ${p.stderr.slice(-300)}`);
    }

    // parity with the sqlite3 shell
    n = 'parity';
    const pdir = path.join(tmp, 'parity-node');
    const sdir = path.join(tmp, 'parity-shell');
    fs.mkdirSync(pdir); fs.mkdirSync(sdir);
    writeCsv(path.join(pdir, 'd.csv'), 40);
    writeCsv(path.join(sdir, 'd.csv'), 40);
    p = run([__filename, 'child', n, ext, pdir], { cwd: tmp });
    if (check(`${n}: the statements run in better-sqlite3 and it exits 0`, p.status === 0 && p.steps.done,
      `${status(p)}; stderr: ${p.stderr.slice(-300)}`)) {
      const shell = (sql) => {
        const r = spawnSync(process.env.LF_SQLITE3 || 'sqlite3',
          [path.join(sdir, 'project.db'), '-cmd', `.load ${ext.replace(/\.so$/, '')}`, '-cmd', '.mode json', sql],
          { cwd: tmp, encoding: 'utf8', timeout: 120000 });
        if (r.status !== 0 || r.signal) {
          return { error: (r.stderr || '').trim().replace(/^(Runtime error|Parse error|Error)( near line \d+)?: (stepping, )?/, '') || status(r) };
        }
        return { ok: r.stdout.trim() ? JSON.parse(r.stdout) : [] };
      };
      for (const [, sql] of PARITY_SETUP) {
        const r = shell(sql);
        if (r.error) check(`${n}: setup in the shell`, false, `${sql}: ${r.error}`);
      }
      PARITY.forEach(([name, sql], i) => {
        const a = norm(p.steps[`s${i}`], pdir);
        const b = norm(shell(sql), sdir);
        check(`${n}: ${name}: better-sqlite3 ${a.error ? 'error' : 'result'} matches the sqlite3 shell`,
          JSON.stringify(a) === JSON.stringify(b),
          `better-sqlite3: ${JSON.stringify(a).slice(0, 180)} | sqlite3 shell: ${JSON.stringify(b).slice(0, 180)}`);
      });
    }

    // examples/node_example.js as written, from the repository root
    n = 'examples/node_example.js';
    const ex = path.join(ROOT, 'examples', 'node_example.js');
    if (check(`${n}: exists`, fs.existsSync(ex), 'missing')) {
      dir = path.join(tmp, 'example');
      fs.mkdirSync(dir);
      const env = Object.assign({}, process.env, {
        LABFLOW_EXT: ext,
        NODE_PATH: [DEPS, process.env.NODE_PATH].filter(Boolean).join(path.delimiter),
      });
      p = run([ex, path.join(dir, 'example.db')], { cwd: ROOT, env });
      check(`${n}: runs as written from the repo root and exits 0`, p.status === 0,
        `${status(p)}; stderr: ${p.stderr.slice(-400)}`);
      check(`${n}: prints the training summary and history`, /"ended"/.test(p.stdout) && /epoch/.test(p.stdout),
        (p.stdout || '').slice(-300));
      checkPlainProgress(n, p.stderr, 'example', [1]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') {
  child(process.argv[3], process.argv[4], process.argv[5]);
} else {
  try {
    driver();
  } catch (e) {
    check('driver', false, e.stack);
  }
  process.exitCode = failed ? 1 : 0;
}
