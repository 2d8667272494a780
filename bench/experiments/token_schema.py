#!/usr/bin/env python3
# bench/experiments/token_schema.py: CPU per token of group-committed token
# inserts into three layouts of the tokens table, with SQLite itself (the
# Python sqlite3 module, same library as tokend), WAL and synchronous=FULL as
# tokend runs it. Results and their reading: docs/benchmarks.md, "Issue 12:
# where a cookie exchange's CPU goes". Not part of bench/run or the tests.
#
#   python3 bench/experiments/token_schema.py LAYOUT INSERTS PRELOADED
#   LAYOUT: A_rowid+digest_index (today's), B_without_rowid_digest_pk, C_rowid_from_digest
#   env PS=1024 sets page_size, CS=N cache_size; the database goes to $TMPDIR (default /tmp)
#   e.g. for l in A_rowid+digest_index B_without_rowid_digest_pk C_rowid_from_digest; do
#          python3 bench/experiments/token_schema.py $l 64000 200000; done
import os, resource, sqlite3, sys, time

schemas = {
 "A_rowid+digest_index": """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT);
CREATE TABLE tokens (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
 name TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER, scopes TEXT);
CREATE INDEX tokens_user ON tokens (user_id, created_at);""",
 "B_without_rowid_digest_pk": """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT);
CREATE TABLE tokens (digest BLOB NOT NULL PRIMARY KEY, id INTEGER NOT NULL UNIQUE, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
 name TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER, scopes TEXT) WITHOUT ROWID;
CREATE INDEX tokens_user ON tokens (user_id, created_at);""",
 "C_rowid_from_digest": """
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT);
CREATE TABLE tokens (id INTEGER PRIMARY KEY, digest BLOB NOT NULL, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
 name TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER, scopes TEXT);
CREATE INDEX tokens_user ON tokens (user_id, created_at);""",
}
N = int(sys.argv[2]); G = 32; PRE = int(sys.argv[3])
which = sys.argv[1]
path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"token_schema_{which}.db")
for s in ("", "-wal", "-shm"):
    try: os.remove(path + s)
    except FileNotFoundError: pass
c = sqlite3.connect(path, isolation_level=None)
ps = os.environ.get("PS"); cs = os.environ.get("CS")
if ps: c.execute(f"PRAGMA page_size={ps}")
if cs: c.execute(f"PRAGMA cache_size={cs}")
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA foreign_keys=ON"); c.execute("PRAGMA synchronous=FULL")
c.executescript(schemas[which])
c.executemany("INSERT INTO users (id, username) VALUES (?, ?)", [(i, f"u{i}") for i in range(1, 5)])
def ins(rows):
    if which.startswith("A"):
        c.executemany("INSERT INTO tokens (digest,user_id,name,source,created_at,expires_at) VALUES (?,?,?,?,?,?)", rows)
    elif which.startswith("B"):
        c.executemany("INSERT INTO tokens (digest,id,user_id,name,source,created_at,expires_at) VALUES (?,(SELECT COALESCE(MAX(id),0)+1 FROM tokens),?,?,?,?,?)", rows)
    else:
        c.executemany("INSERT INTO tokens (id,digest,user_id,name,source,created_at,expires_at) VALUES (?,?,?,?,?,?,?)",
                      [((int.from_bytes(r[0][:8],'big') >> 11) or 1,)+r for r in rows])
# preload
c.execute("BEGIN")
ins([(os.urandom(32), 1+i%4, "session", "session", 1700000000000+i, 1800000000000) for i in range(PRE)])
c.execute("COMMIT")
t0 = time.process_time(); w0 = time.time()
walbytes = 0
for g in range(N // G):
    c.execute("BEGIN")
    ins([(os.urandom(32), 1+i%4, "session", "session", 1700000000000+g*G+i, 1800000000000) for i in range(G)])
    c.execute("COMMIT")
t1 = time.process_time(); w1 = time.time()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"{which}: cpu {1e6*(t1-t0)/N:.1f} us/token wall {1e6*(w1-w0)/N:.1f} us/token  db {os.path.getsize(path)/1e6:.1f} MB")
