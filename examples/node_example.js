'use strict';
// node_example.js — train a small classifier from Node.js with LabFlow,
// through better-sqlite3 (version 12).
//
// Run from the repository root after `make`:
//
//     npm install better-sqlite3@12        # or: sh tools/host-deps.sh
//     node examples/node_example.js [project.db]
//
// The project database defaults to ./example.db (its artifacts go to
// ./example.db.labflow/). Running it again trains the same pipeline one more
// epoch: LabFlow resumes it. Set LABFLOW_EXT to load another build (default:
// ./labflow.so, or the installed /usr/local/lib/labflow.so).
const fs = require('fs');
const path = require('path');

let Database;
try {
  Database = require('better-sqlite3');
} catch (e) {
  try {  // the copy tools/host-deps.sh installs for the tests
    Database = require(path.resolve(__dirname, '..', 'tests', 'node', '.deps', 'node_modules', 'better-sqlite3'));
  } catch (e2) {
    console.error('better-sqlite3 is not installed: npm install better-sqlite3@12');
    process.exit(1);
  }
}

const dbPath = process.argv[2] || 'example.db';
const ext = process.env.LABFLOW_EXT ||
  ['./labflow.so', '/usr/local/lib/labflow.so'].find((p) => fs.existsSync(p)) || './labflow.so';

const db = new Database(dbPath);
db.loadExtension(ext);
console.log('LabFlow', db.prepare('SELECT labflow_version()').pluck().get());

// 1. Data: three classes of points in 4 dimensions, in a table of the
//    project database; the "sql" dataset trains straight from a SELECT.
//    (better-sqlite3 runs in autocommit: the rows are committed, so the
//    training's own connection sees them.)
db.exec('CREATE TABLE IF NOT EXISTS flowers(id INTEGER PRIMARY KEY, f1, f2, f3, f4, species TEXT)');
if (db.prepare('SELECT count(*) FROM flowers').pluck().get() === 0) {
  let seed = 7;
  const rand = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };
  const gauss = (m, s) => m + s * Math.sqrt(-2 * Math.log(rand() || 1e-9)) * Math.cos(2 * Math.PI * rand());
  const centres = { setosa: [5.0, 3.4, 1.5, 0.2], versicolor: [5.9, 2.8, 4.3, 1.3], virginica: [6.6, 3.0, 5.6, 2.0] };
  const insert = db.prepare('INSERT INTO flowers(f1, f2, f3, f4, species) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 100; i++) {
      for (const [name, c] of Object.entries(centres)) insert.run(...c.map((m) => gauss(m, 0.3)), name);
    }
  })();
}

// 2. The project (the same settings again is a no-op) and a pipeline.
db.prepare('SELECT lab_init(?)').get(JSON.stringify({
  metrics: ['accuracy'],
  strategy: { monitor: 'val_loss', mode: 'min' },
  threads: 2,
}));
const config = {
  model: { loc: 'Sequential', args: { layers: [
    { loc: 'Linear', args: { out: 16 } }, { loc: 'ReLU' },
    { loc: 'Linear', args: { out: 3 } }] } },
  dataset: { loc: 'sql', args: { label: 'species', standardize: true } },
  train_data_src: 'SELECT f1, f2, f3, f4, species FROM flowers WHERE id % 5 <> 0',
  val_data_src: 'SELECT f1, f2, f3, f4, species FROM flowers WHERE id % 5 = 0',
  loss: { loc: 'CrossEntropyLoss' },
  optimizer: { loc: 'Adam', args: { lr: 0.01 } },
  metrics: { accuracy: { loc: 'Accuracy' } },
  train_batch_size: 16,
  seed: 1,
};
if (db.prepare("SELECT ppl_verify('example')").pluck().get() === null) {
  db.prepare("SELECT ppl_new('example', ?)").get(JSON.stringify(config));
}

// 3. Train one epoch (progress lines go to stderr). The call blocks until
//    the epoch is done, like every better-sqlite3 call.
const summary = JSON.parse(db.prepare("SELECT ppl_train('example', 1)").pluck().get());
console.log('trained:', JSON.stringify(summary));

// 4. Results are tables.
console.log('epoch  train_loss  val_loss  val_accuracy');
for (const r of db.prepare("SELECT epoch, train_loss, val_loss, val_accuracy FROM ppl_history('example') ORDER BY epoch").iterate()) {
  console.log(`${String(r.epoch).padStart(5)}  ${r.train_loss.toFixed(4).padStart(10)}  ` +
              `${r.val_loss.toFixed(4).padStart(8)}  ${r.val_accuracy.toFixed(4).padStart(12)}`);
}

// 5. Predict: the labels come back as the text they were trained on.
const samples = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.6, 2.0]];
console.log('predicted:', db.prepare("SELECT ppl_predict('example', ?, 'best', 'class')").pluck().get(JSON.stringify(samples)));

// 6. Errors are thrown as SqliteError carrying LabFlow's message.
try {
  db.prepare("SELECT ppl_new('../x', '{}')").get();
} catch (e) {
  console.log('error as expected:', e.message);
}

db.close();
