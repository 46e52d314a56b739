#!/bin/bash
# Fault injection for `tars apply`, as root and as the unprivileged user: SIGKILL at random
# moments (at least 200 trials per identity, across changesets that create, modify, delete and
# change modes in nested directories, a directory becoming a file and a file a directory among
# them), and at every deterministic crash point (TARS_CRASH_AT).  After each kill, `tars
# history` recovers (as every
# command that opens the store does), and the whole tree (every path's type, mode and size, and
# the SHA-256 of every file; .tars/ left out) must be exactly the pre-state or exactly the
# post-state, with no .tars-tmp-* file anywhere.  Prints how many trials ended in each.
#
# Environment: TRIALS (random kills per identity, default 200), JOBS (trials run at once,
# default 4), SEED (default: random).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TRIALS=${TRIALS:-200}
JOBS=${JOBS:-4}
SEED=${SEED:-$RANDOM}
RANDOM=$SEED
GEN=$TARS_TMP/gen
LABELS="journaled prepare-op prepare-op:40 prepare-op:120 prepared apply-op apply-op:2
apply-op:60 apply-op:150 dir-mode dir-mode:3 before-commit after-commit"

# gen.py OUT VARIANT: OUT/pre (the repository), OUT/post (what the changeset makes of it, built
# here independently of tars) and OUT/cs (the changeset).
cat >"$TARS_TMP/gen.py" <<'PY'
import hashlib, json, os, random, shutil, sys

out, variant = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1000 + variant)
pre, post, cs = (os.path.join(out, d) for d in ("pre", "post", "cs"))
os.makedirs(os.path.join(cs, "objects"))

def write(root, rel, data, mode):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)

def blob():
    return rnd.randbytes(rnd.choice([0, 1, 100, 4096, 10000, 40000]))

files = {}
for i in range(160):
    rel = f"d{i % 4}/e{(i // 4) % 5}/g{(i // 20) % 2}/f{i}.txt"
    files[rel] = (blob(), rnd.choice([0o644, 0o600, 0o755]))
for i in range(30):
    files[f"gone{i % 3}/sub{i % 2}/x{i}.c"] = (blob(), 0o644)
for i in range(6):
    files[f"tc/t{i}"] = (blob(), 0o644)
files["ft"] = (blob(), 0o644)
for rel, (data, mode) in files.items():
    write(pre, rel, data, mode)
for d in ("d0/e1", "gone1/sub0"):
    os.chmod(os.path.join(pre, d), 0o750)

entries, dirs = [], set()
def sha(data):
    return hashlib.sha256(data).hexdigest()
def obj(data):
    h = sha(data)
    with open(os.path.join(cs, "objects", h), "wb") as f:
        f.write(data)
    return h
def mode_s(m):
    return "%04o" % m

shutil.copytree(pre, post, symlinks=True)
keys = sorted(r for r in files if not r.startswith(("gone", "tc/", "ft")))
rnd.shuffle(keys)
n_mod, n_chmod, n_del = [(60, 20, 20), (20, 40, 10), (30, 10, 60)][variant % 3]
for rel in keys[:n_mod]:
    data, mode = blob(), rnd.choice([0o644, 0o644, 0o600, 0o755])
    if data == files[rel][0]:
        data += b"!"
    write(post, rel, data, mode)
    entries.append({"path": rel, "op": "modify", "type": "file", "mode": mode_s(mode),
                    "size": len(data), "sha256": obj(data), "base_sha256": sha(files[rel][0])})
for rel in keys[n_mod:n_mod + n_chmod]:
    mode = 0o700 if files[rel][1] != 0o700 else 0o644
    os.chmod(os.path.join(post, rel), mode)
    entries.append({"path": rel, "op": "chmod", "type": "file", "mode": mode_s(mode),
                    "base_sha256": sha(files[rel][0])})
for rel in keys[n_mod + n_chmod:n_mod + n_chmod + n_del]:
    os.unlink(os.path.join(post, rel))
    entries.append({"path": rel, "op": "delete", "type": "file", "base_sha256": sha(files[rel][0])})
# Whole directories deleted, deepest first.
for g in ("gone0", "gone1", "gone2")[: 1 + variant % 3]:
    for rel in sorted((r for r in files if r.startswith(g + "/")), reverse=True):
        entries.append({"path": rel, "op": "delete", "type": "file",
                        "base_sha256": sha(files[rel][0])})
    for sub in ("sub0", "sub1"):
        if any(r.startswith(f"{g}/{sub}/") for r in files):
            entries.append({"path": f"{g}/{sub}", "op": "delete", "type": "dir",
                            "base_sha256": None})
    entries.append({"path": g, "op": "delete", "type": "dir", "base_sha256": None})
    shutil.rmtree(os.path.join(post, g))
# A directory becomes a file.
for rel in (r for r in files if r.startswith("tc/")):
    entries.append({"path": rel, "op": "delete", "type": "file", "base_sha256": sha(files[rel][0])})
entries.append({"path": "tc", "op": "delete", "type": "dir", "base_sha256": None})
shutil.rmtree(os.path.join(post, "tc"))
data = b"tc is a file now\n"
write(post, "tc", data, 0o644)
entries.append({"path": "tc", "op": "create", "type": "file", "mode": "0644", "size": len(data),
                "sha256": obj(data), "base_sha256": None})
# A file becomes a directory holding a file.
entries.append({"path": "ft", "op": "delete", "type": "file", "base_sha256": sha(files["ft"][0])})
os.unlink(os.path.join(post, "ft"))
os.mkdir(os.path.join(post, "ft"))
os.chmod(os.path.join(post, "ft"), 0o755)
entries.append({"path": "ft", "op": "mkdir", "type": "dir", "mode": "0755"})
data = b"inside\n"
write(post, "ft/inside", data, 0o644)
entries.append({"path": "ft/inside", "op": "create", "type": "file", "mode": "0644",
                "size": len(data), "sha256": obj(data), "base_sha256": None})
# New nested directories and files, some in existing directories; directory modes.
for i in range(40 + 30 * (variant % 2)):
    if i % 3 == 0:
        rel = f"d{i % 4}/e{i % 5}/new{i}.txt"
    else:
        d = f"new{i % 3}/n{i % 4}/m{i % 2}"
        parts = d.split("/")
        for k in range(1, len(parts) + 1):
            dd = "/".join(parts[:k])
            if dd not in dirs:
                dirs.add(dd)
                dm = 0o750 if k == 2 else 0o755
                os.makedirs(os.path.join(post, dd), exist_ok=True)
                entries.append({"path": dd, "op": "mkdir", "type": "dir", "mode": mode_s(dm)})
        rel = f"{d}/c{i}.dat"
    data = blob()
    write(post, rel, data, 0o644)
    entries.append({"path": rel, "op": "create", "type": "file", "mode": "0644",
                    "size": len(data), "sha256": obj(data), "base_sha256": None})
for dd in dirs:
    os.chmod(os.path.join(post, dd), 0o750 if dd.count("/") == 1 else 0o755)
for d, m in (("d1", 0o700), ("d2/e3", 0o711)):
    os.chmod(os.path.join(post, d), m)
    entries.append({"path": d, "op": "chmod", "type": "dir", "mode": mode_s(m),
                    "base_sha256": None})
deletes = sorted((e for e in entries if e["op"] == "delete"), key=lambda e: e["path"].encode(),
                 reverse=True)
others = sorted((e for e in entries if e["op"] != "delete"), key=lambda e: e["path"].encode())
with open(os.path.join(cs, "manifest.json"), "w") as f:
    json.dump({"version": 1, "entries": deletes + others}, f, indent=1)
print(len(entries))
PY

# The state of a tree: every path with its type, mode and size, and every file's SHA-256.
snap() {
  (cd "$1" && find . -path ./.tars -prune -o -printf '%p %y %m %s\n' | LC_ALL=C sort &&
    find . -path ./.tars -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

now_ms() {
  echo $(($(date +%s%N) / 1000000))
}

# Run tars as the identity, replacing this (sub)shell so that $! is tars itself: killing a
# runuser or a su in between would leave tars running.
exec_tars() {
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then
    exec setpriv --reuid="$TARS_TEST_USER" --regid="$TARS_TEST_USER" --init-groups -- "$T" "$@"
  fi
  exec "$T" "$@"
}

# check REPO V: recover with `tars history`, then the tree must be variant V's pre-state or its
# post-state.  Prints "pre", "post" or "error WHY".
check() {
  local repo=$1 v=$2 out snapf=$1.snap
  if ! out=$( (exec_tars history --repo "$repo" --json) 2>"$repo.err"); then
    echo "error tars history (recovery) failed: $(cat "$repo.err")"
    return
  fi
  # What the kill interrupted: nothing journaled yet (none), the preparation (aborted), the
  # apply (recovered), or nothing (committed).
  local state
  state=$(printf '%s' "$out" | jq -r '.[0].state // "none"' 2>/dev/null) || state=none
  if [ -n "$(find "$repo" -name '.tars-tmp-*' -print -quit)" ]; then
    echo "error a temporary file is left: $(find "$repo" -name '.tars-tmp-*' | head -3 | tr '\n' ' ')"
    return
  fi
  snap "$repo" >"$snapf"
  if cmp -s "$snapf" "$GEN/$v/pre.snap" && [ "$state" != committed ]; then
    echo "pre $state"
  elif cmp -s "$snapf" "$GEN/$v/post.snap" && [ "$state" = committed ]; then
    echo "post $state"
  else
    echo "error the tree is neither the pre-state nor the post-state:" \
      "$(diff "$GEN/$v/pre.snap" "$snapf" | head -6 | tr '\n' '|')" \
      "(against the post-state: $(diff "$GEN/$v/post.snap" "$snapf" | head -6 | tr '\n' '|'))"
  fi
}

# fresh V: a new copy of variant V's pristine repository, owned by the identity; prints it.
fresh() {
  local d
  d=$(mktemp -d "$TARS_TMP/r.XXXXXX") && chmod 0755 "$d"
  cp -a "$GEN/$1/pre" "$d/repo"
  if [ "$IDENTITY" = user ] && [ "$(id -u)" -eq 0 ]; then chown -R "$TARS_TEST_USER:" "$d/repo"; fi
  echo "$d/repo"
}

t_apply_crash() {
  cd / || return 1
  local v
  for v in 0 1 2; do
    if [ ! -d "$GEN/$v/pre" ]; then
      mkdir -p "$GEN/$v"
      python3 "$TARS_TMP/gen.py" "$GEN/$v" "$v" >"$GEN/$v/n" || { fail "generate changeset $v"; return; }
      snap "$GEN/$v/pre" >"$GEN/$v/pre.snap"
      snap "$GEN/$v/post" >"$GEN/$v/post.snap"
    fi
  done

  # Uninterrupted: the post-state, exactly; and how long it takes when JOBS run at once, as the
  # random kills will (the median), to aim the kills.
  local dur=() k ts r cal=$TARS_TMP/cal.$IDENTITY
  mkdir -p "$cal"
  for v in 0 1 2; do
    for ((k = 0; k < JOBS; k++)); do
      timed_apply "$v" "$cal/$v.$k" &
    done
    wait
    ts=()
    for ((k = 0; k < JOBS; k++)); do
      read -r r <"$cal/$v.$k" || r="error no result"
      case "$r" in
        ok*) ts+=("${r#ok }") ;;
        *)
          fail "apply changeset $v ($(cat "$GEN/$v/n") entries)" "${r#error }"
          return
          ;;
      esac
    done
    dur[v]=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((JOBS + 1) / 2))p")
    pass "apply changeset $v ($(cat "$GEN/$v/n") entries, median ${dur[v]} ms, $JOBS at a time): the exact post-state"
  done

  # Deterministic crash points, JOBS at a time.
  local label n_ok=0 n_bad=0 got cres=$TARS_TMP/crash.$IDENTITY j=0
  mkdir -p "$cres"
  for v in 0 1 2; do
    for label in $LABELS; do
      crash_at "$v" "$label" "$cres/$j" &
      j=$((j + 1))
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    done
  done
  wait
  for ((k = 0; k < j; k++)); do
    read -r got <"$cres/$k" || got="error no result"
    if [ "${got%% *}" = ok ]; then
      n_ok=$((n_ok + 1))
    else
      fail "crash point" "${got#error }"
      n_bad=$((n_bad + 1))
    fi
  done
  [ "$n_bad" -eq 0 ] && pass "crash points: $n_ok crashes at $(echo $LABELS | wc -w) labels x 3 changesets, each recovered exactly"

  # Random kills, JOBS at a time (each on its own copy).  The delay is uniform over 0 to 0.8x
  # the duration measured above (the JOBS calibration runs started together, which slows them
  # more than staggered trials are).
  local i n_pre=0 n_post=0 n_exited=0 n_err=0 res=$TARS_TMP/res.$IDENTITY r
  local n_none=0 n_aborted=0 n_recovered=0
  mkdir -p "$res"
  for ((i = 0; i < TRIALS; i++)); do
    v=$((i % 3))
    trial "$i" "$v" "$((RANDOM * (dur[v] * 4 / 5 + 1) / 32768))" "$res" &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  done
  wait
  for ((i = 0; i < TRIALS; i++)); do
    read -r r <"$res/$i" || r="error no result"
    case "${r%% *}" in
      pre)
        n_pre=$((n_pre + 1))
        case "$r" in
          "pre none"*) n_none=$((n_none + 1)) ;;
          "pre aborted"*) n_aborted=$((n_aborted + 1)) ;;
          "pre recovered"*) n_recovered=$((n_recovered + 1)) ;;
        esac
        ;;
      post) n_post=$((n_post + 1)) ;;
      exited) n_exited=$((n_exited + 1)) ;;
      *)
        n_err=$((n_err + 1))
        fail "random kill $i (seed $SEED)" "${r#error }"
        ;;
    esac
  done
  echo "random kills [$IDENTITY]: $TRIALS trials (seed $SEED, $JOBS at a time): $n_pre ended in the" \
    "pre-state (killed before the journal: $n_none, while preparing: $n_aborted, while" \
    "applying: $n_recovered), $n_post in the post-state (killed after the commit point)," \
    "$n_exited finished before the kill (post-state), $n_err wrong"
  [ "$n_err" -eq 0 ] && pass "random kills: $TRIALS trials, every tree exactly pre or post"
}

# timed_apply V OUT: apply changeset V to a fresh copy, uninterrupted; writes "ok MS" (how long
# it took) or "error WHY" to OUT.
timed_apply() {
  local v=$1 out=$2 repo t0 t1 msg
  repo=$(fresh "$v")
  t0=$(now_ms)
  if ! msg=$( (exec_tars apply "$GEN/$v/cs" --repo "$repo") 2>&1); then
    echo "error $msg" | tr '\n' ' ' >"$out"
  else
    t1=$(now_ms)
    snap "$repo" >"$repo.snap"
    if cmp -s "$repo.snap" "$GEN/$v/post.snap"; then
      echo "ok $((t1 - t0))" >"$out"
    else
      echo "error not the post-state: $(diff "$GEN/$v/post.snap" "$repo.snap" | head -5 | tr '\n' '|')" >"$out"
    fi
  fi
  rm -rf "$(dirname "$repo")"
}

# crash_at V LABEL OUT: apply changeset V with TARS_CRASH_AT=LABEL, recover, check; writes "ok"
# or "error WHY" to OUT.
crash_at() {
  local v=$1 label=$2 out=$3 repo rc got want=pre
  [ "$label" = after-commit ] && want=post
  repo=$(fresh "$v")
  (export TARS_CRASH_AT=$label; exec_tars apply "$GEN/$v/cs" --repo "$repo") >/dev/null 2>&1 &
  # Waited for, not run in the foreground: bash reports a foreground job's death by signal.
  wait $! 2>/dev/null
  rc=$?
  if [ "$rc" -ne 137 ]; then
    echo "error at $label (changeset $v): tars exited $rc instead of dying of SIGKILL" >"$out"
  else
    got=$(check "$repo" "$v")
    if [ "${got%% *}" = "$want" ]; then
      echo "ok $got" >"$out"
    else
      echo "error at $label (changeset $v): ended ${got}, expected $want" >"$out"
    fi
  fi
  rm -rf "$(dirname "$repo")"
}

# trial I V DELAY RES: apply changeset V to a fresh copy, SIGKILL it after DELAY ms, recover,
# check; writes pre, post, exited or "error WHY" to RES/I.
trial() {
  local i=$1 v=$2 delay=$3 res=$4 repo pid exited=0 got
  repo=$(fresh "$v")
  exec_tars apply "$GEN/$v/cs" --repo "$repo" >/dev/null 2>&1 &
  pid=$!
  sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
  kill -9 "$pid" 2>/dev/null || exited=1
  wait "$pid" 2>/dev/null
  # kill may reach a process that was already exiting: its status says.
  [ "$?" -ne 137 ] && exited=1
  got=$(check "$repo" "$v")
  if [ "$exited" -eq 1 ] && [ "${got%% *}" = post ]; then
    got=exited
  elif [ "$exited" -eq 1 ] && [ "${got%% *}" = pre ]; then
    got="error tars exited, but the tree is the pre-state"
  fi
  echo "$got (after $delay ms, changeset $v)" >"$res/$i"
  rm -rf "$(dirname "$repo")"
}

for_each_identity t_apply_crash
