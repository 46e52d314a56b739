#!/usr/bin/env bash
# Applying a changeset: tars apply (crash-safe: journal, pre-images, temporary files, syncfs,
# atomic renames, commit point) against rsync -a of the same files into a copy of the repository,
# in one hyperfine run; then the time of tars rollback of that transaction.  The changeset has
# 2,000 files, 100 MB, in nested directories: half modify existing files, half create files,
# some in new directories.  Prints the medians and the ratio tars/rsync (target <= 2.0).
#
#   bench/apply.sh [--runs N] [--warmup N] [--files N] [--bytes N] [--dir DIR]
#     --dir DIR   where to build the repositories (default: $TMPDIR or /tmp); the filesystem
#                 matters: tars makes its writes durable (syncfs), rsync does not
# Environment: TARS, the tars binary (default build/tars).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARS=${TARS:-$root/build/tars}
runs=10
warmup=1
files=2000
bytes=$((100 * 1024 * 1024))
dir=${TMPDIR:-/tmp}

while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a number}; shift 2 ;;
    --files) files=${2:?--files needs a number}; shift 2 ;;
    --bytes) bytes=${2:?--bytes needs a number}; shift 2 ;;
    --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "apply bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in hyperfine rsync python3 jq; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "apply bench: $tool is missing (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
if [ ! -x "$TARS" ]; then
  echo "apply bench: $TARS not found: build it first (cmake -S . -B build && cmake --build build)" >&2
  exit 1
fi

tmp=$(mktemp -d "$dir/tars-bench-apply.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT

# base/: the repository; cs/: the changeset (manifest.json, objects/); post/: the changed files
# alone, laid out as in the repository, which is what rsync copies.
python3 - "$tmp" "$files" "$bytes" <<'PY'
import hashlib, json, os, random, sys

out, nfiles, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(42)
size = total // nfiles
base, cs, post = (os.path.join(out, d) for d in ("base", "cs", "post"))
for d in (base, os.path.join(cs, "objects"), post):
    os.makedirs(d)
entries, dirs = [], set()

def put(root, rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, 0o644)
    if root == post:  # newer than the repository's files: rsync's quick check must not skip any
        st = os.stat(p)
        os.utime(p, (st.st_atime + 3600, st.st_mtime + 3600))

def obj(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(cs, "objects", h), "wb") as f:
        f.write(data)
    return h

n_mod = nfiles // 2
for i in range(n_mod):
    rel = f"src/m{i % 10}/d{(i // 10) % 10}/f{i}.dat"
    old, new = rnd.randbytes(size), rnd.randbytes(size)
    put(base, rel, old)
    put(post, rel, new)
    entries.append({"path": rel, "op": "modify", "type": "file", "mode": "0644", "size": size,
                    "sha256": obj(new), "base_sha256": hashlib.sha256(old).hexdigest()})
for i in range(200):  # untouched files
    put(base, f"src/keep/k{i}.txt", rnd.randbytes(1000))
for i in range(nfiles - n_mod):
    if i % 2 == 0:
        rel = f"src/m{i % 10}/d{(i // 10) % 10}/n{i}.dat"
    else:
        d2 = f"gen/g{i % 10}/h{(i // 10) % 10}"
        for d in ("gen", f"gen/g{i % 10}", d2):
            if d not in dirs:
                dirs.add(d)
                entries.append({"path": d, "op": "mkdir", "type": "dir", "mode": "0755"})
        rel = f"{d2}/n{i}.dat"
    data = rnd.randbytes(size)
    put(post, rel, data)
    entries.append({"path": rel, "op": "create", "type": "file", "mode": "0644", "size": size,
                    "sha256": obj(data), "base_sha256": None})
entries.sort(key=lambda e: e["path"].encode())
with open(os.path.join(cs, "manifest.json"), "w") as f:
    json.dump({"version": 1, "entries": entries}, f)
PY

w=$tmp/work
# Each run starts from a fresh copy of the repository without .tars/, made durable so that
# neither tool's time includes writing back the copy.
restore="rm -rf $w && cp -a $tmp/base $w && sync -f $w"
apply="$TARS apply $tmp/cs --repo $w --no-git-commit"

# Both must work, and give the same tree, before anything is timed.
sh -c "$restore" && $apply >/dev/null
(cd "$w" && find . -path ./.tars -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >"$tmp/tars.sum"
sh -c "$restore" && rsync -a "$tmp/post/" "$w/"
(cd "$w" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$tmp/rsync.sum"
if ! cmp -s "$tmp/tars.sum" "$tmp/rsync.sum"; then
  echo "apply bench: tars apply and rsync do not give the same tree" >&2
  exit 1
fi

hyperfine --warmup "$warmup" --runs "$runs" --export-json "$tmp/apply.json" \
  --prepare "$restore" \
  -n tars "$apply" \
  -n rsync "rsync -a $tmp/post/ $w/"

# Rollback: each run rolls back a fresh apply of the changeset.
hyperfine --warmup "$warmup" --runs "$runs" --export-json "$tmp/rollback.json" \
  --prepare "$restore && $apply --json | jq -r .transaction >$tmp/txn && sync -f $w" \
  -n "tars rollback" "$TARS rollback \$(cat $tmp/txn) --repo $w"

python3 - "$tmp/apply.json" "$tmp/rollback.json" "$files" "$bytes" <<'PY'
import json, sys

apply = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
rollback = json.load(open(sys.argv[2]))["results"][0]
files, mb = int(sys.argv[3]), int(sys.argv[4]) / (1024 * 1024)
t, r = apply["tars"]["median"], apply["rsync"]["median"]
print()
print(f"apply of {files} files, {mb:.0f} MB: median of {len(apply['tars']['times'])} runs")
print(f"  tars apply     {t * 1000:8.1f} ms")
print(f"  rsync -a       {r * 1000:8.1f} ms")
print(f"  tars rollback  {rollback['median'] * 1000:8.1f} ms")
print(f"  tars/rsync     {t / r:.2f}")
print("target met (tars/rsync <= 2.0)" if t / r <= 2.0 else "target missed (tars/rsync > 2.0)")
PY
