#!/usr/bin/python3
"""python_example.py — train a small classifier from Python with LabFlow.

Run from the repository root after `make`:

    /usr/bin/python3 examples/python_example.py [project.db]

Use a Python whose sqlite3 module can load extensions: Debian's
/usr/bin/python3 can; many pyenv/conda builds cannot (their
Connection has no enable_load_extension). The project database defaults to
./example.db (its artifacts go to ./example.db.labflow/). Running the script
again trains the same pipeline one more epoch: LabFlow resumes it.

Set LABFLOW_EXT to load another build (default: ./labflow.so, or the
installed /usr/local/lib/labflow.so).
"""
import json
import os
import random
import sqlite3
import sys

db_path = sys.argv[1] if len(sys.argv) > 1 else "example.db"
ext = os.environ.get("LABFLOW_EXT") or next(
    (p for p in ("./labflow.so", "/usr/local/lib/labflow.so") if os.path.exists(p)), "./labflow.so")

con = sqlite3.connect(db_path)
if not hasattr(con, "enable_load_extension"):
    sys.exit(f"{sys.executable}: this Python's sqlite3 cannot load extensions; use /usr/bin/python3")
con.enable_load_extension(True)
con.load_extension(ext)
con.enable_load_extension(False)   # only this one extension
print("LabFlow", con.execute("SELECT labflow_version()").fetchone()[0])

# 1. Data: three classes of points in 4 dimensions, stored in a table of the
#    project database. The "sql" dataset trains straight from a SELECT.
con.execute("CREATE TABLE IF NOT EXISTS flowers(id INTEGER PRIMARY KEY, f1, f2, f3, f4, species TEXT)")
if con.execute("SELECT count(*) FROM flowers").fetchone()[0] == 0:
    rnd = random.Random(7)
    centres = {"setosa": (5.0, 3.4, 1.5, 0.2), "versicolor": (5.9, 2.8, 4.3, 1.3),
               "virginica": (6.6, 3.0, 5.6, 2.0)}
    rows = [tuple(rnd.gauss(c, 0.3) for c in centre) + (name,)
            for _ in range(100) for name, centre in centres.items()]
    con.executemany("INSERT INTO flowers(f1, f2, f3, f4, species) VALUES (?,?,?,?,?)", rows)
# Training reads through its own connection: commit the data first.
con.commit()

# 2. The project (same settings again is a no-op) and a pipeline.
con.execute("SELECT lab_init(?)", (json.dumps({
    "metrics": ["accuracy"],
    "strategy": {"monitor": "val_loss", "mode": "min"},
    "threads": 2}),))

config = {
    "model": {"loc": "Sequential", "args": {"layers": [
        {"loc": "Linear", "args": {"out": 16}}, {"loc": "ReLU"},
        {"loc": "Linear", "args": {"out": 3}}]}},
    "dataset": {"loc": "sql", "args": {"label": "species", "standardize": True}},
    "train_data_src": "SELECT f1, f2, f3, f4, species FROM flowers WHERE id % 5 <> 0",
    "val_data_src":   "SELECT f1, f2, f3, f4, species FROM flowers WHERE id % 5 = 0",
    "loss": {"loc": "CrossEntropyLoss"},
    "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
    "metrics": {"accuracy": {"loc": "Accuracy"}},
    "train_batch_size": 16,
    "seed": 1,
}
if con.execute("SELECT ppl_verify('example')").fetchone()[0] is None:
    con.execute("SELECT ppl_new('example', ?)", (json.dumps(config),))

# 3. Train one epoch (progress lines go to stderr).
summary = json.loads(con.execute("SELECT ppl_train('example', 1)").fetchone()[0])
print("trained:", json.dumps(summary))

# 4. Results are tables.
print("epoch  train_loss  val_loss  val_accuracy")
for epoch, tl, vl, va in con.execute(
        "SELECT epoch, train_loss, val_loss, val_accuracy FROM ppl_history('example') ORDER BY epoch"):
    print(f"{epoch:5d}  {tl:10.4f}  {vl:8.4f}  {va:12.4f}")

# 5. Predict: the labels come back as the text they were trained on.
samples = [[5.0, 3.4, 1.5, 0.2], [6.6, 3.0, 5.6, 2.0]]
pred = con.execute("SELECT ppl_predict('example', ?, 'best', 'class')", (json.dumps(samples),)).fetchone()[0]
print("predicted:", pred)

# 6. Errors are ordinary sqlite3 exceptions carrying LabFlow's message.
try:
    con.execute("SELECT ppl_new('../x', '{}')")
except sqlite3.OperationalError as e:
    print("error as expected:", e)

con.close()
