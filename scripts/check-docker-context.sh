#!/usr/bin/env bash
# Builds the Docker image's build stage without Docker: stages exactly the files its COPY lines
# take from the build context (after .dockerignore) into a temporary directory laid out as the
# image's file system, then runs the stage's cargo build there. Fails when that build fails, or
# when a file the runtime stage copies out of the build stage is not there afterwards.
#
#   bash scripts/check-docker-context.sh
#   DOCKERFILE=/tmp/Dockerfile.old bash scripts/check-docker-context.sh   # another Dockerfile
#   OPTIMIZE=1 bash scripts/check-docker-context.sh   # optimized, exactly as the image builds
#
# Environment: DOCKERFILE (default Dockerfile), DOCKERIGNORE (default .dockerignore beside
# the context), STAGE (default: the stage named `build`, else the first), KEEP=1 keeps the
# temporary directory. The build's target directory is inside the temporary directory, which
# is removed afterwards (a release build takes about a gigabyte).
#
# What it understands of the Dockerfile: FROM ... AS, WORKDIR, COPY/ADD of local paths (flags
# such as --chown are ignored; --from copies are skipped), with Docker's rules for sources
# that are files, directories or wildcards, and for destinations. Of .dockerignore: comments,
# `!` exceptions, `*`, `?`, `**` and character classes, matched as Docker does (a pattern that
# matches a directory excludes everything under it; the last matching pattern wins).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

dockerfile=${DOCKERFILE:-Dockerfile}
dockerignore=${DOCKERIGNORE:-.dockerignore}
command -v python3 >/dev/null || { echo "check-docker-context: needs python3" >&2; exit 2; }
[[ -f $dockerfile ]] || { echo "check-docker-context: no $dockerfile" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/docker-context.XXXXXX")
if [[ ${KEEP:-} != 1 ]]; then
    trap 'rm -rf "$tmp"' EXIT
fi
started=$SECONDS

# Stages the context into $tmp/fs; prints the stage's WORKDIR on the last line of stdout, the
# paths the other stages copy out of it (one per line, prefixed `from-build `) before that.
plan=$(python3 - "$root" "$dockerfile" "$dockerignore" "$tmp/fs" "${STAGE:-}" <<'PY'
import os, re, shlex, shutil, sys

root, dockerfile, dockerignore, fs, wanted = sys.argv[1:6]

def fail(msg):
    print(f"check-docker-context: {msg}", file=sys.stderr)
    sys.exit(1)

# --- Dockerfile: instructions with continuation lines joined, comments dropped.
def instructions(text):
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out

stages = []  # each: {"name", "workdir", "copies": [(srcs, dest)], "from": [(stage, src)], "runs"}
for word, rest in instructions(open(dockerfile).read()):
    if word == "FROM":
        parts = rest.split()
        name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
        stages.append({"name": name, "workdir": "/", "copies": [], "from": [], "runs": []})
        continue
    if not stages:
        continue
    stage = stages[-1]
    if word == "WORKDIR":
        stage["workdir"] = os.path.normpath(os.path.join(stage["workdir"], rest))
    elif word == "RUN":
        stage["runs"].append(rest)
    elif word in ("COPY", "ADD"):
        if rest.startswith("<<"):
            fail(f"{word} with a here-document is not supported: {rest}")
        if rest.startswith("["):
            import json
            args, flags = json.loads(rest), []
        else:
            args = shlex.split(rest)
            flags = [a for a in args if a.startswith("--")]
            args = [a for a in args if not a.startswith("--")]
        source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        if len(args) < 2:
            fail(f"{word} needs a source and a destination: {rest}")
        if source_stage is not None:
            stage["from"].append((source_stage, args[:-1]))
        else:
            stage["copies"].append((args[:-1], args[-1]))

if not stages:
    fail(f"{dockerfile}: no FROM")
if wanted:
    index = next((i for i, s in enumerate(stages) if s["name"] == wanted), None)
    if index is None:
        fail(f"{dockerfile}: no stage named {wanted}")
else:
    index = next((i for i, s in enumerate(stages) if s["name"] == "build"), 0)
build = stages[index]
if not any("cargo build" in r for r in build["runs"]):
    fail(f"{dockerfile}: the build stage runs no `cargo build`")

# --- .dockerignore, as Docker's patternmatcher reads it.
def translate(pattern):
    """A Go filepath.Match pattern (plus `**`) as a regular expression over `/` paths."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):  # `**/`: any number of directories, even none
                    i += 1
                    out += "(?:.*/)?"
                else:
                    out += ".*"
                continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                fail(f"{dockerignore}: unclosed [ in {pattern}")
            body = pattern[i + 1:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")

patterns = []  # (regex, excludes)
ignore_path = os.path.join(root, dockerignore) if not os.path.isabs(dockerignore) else dockerignore
if os.path.exists(ignore_path):
    for line in open(ignore_path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        if not excludes:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        patterns.append((translate(line), excludes))
has_exceptions = any(not e for _, e in patterns)

def excluded(path):
    """Docker's MatchesOrParentMatches: the path or a parent directory of it matches."""
    parents = path.split("/")
    candidates = ["/".join(parents[: n + 1]) for n in range(len(parents))]
    result = False
    for regex, excludes in patterns:
        if any(regex.match(c) for c in candidates):
            result = excludes
    return result

# --- The context: every file not excluded (symlinks kept as links).
context = []
for dirpath, dirnames, filenames in os.walk(root):
    rel_dir = os.path.relpath(dirpath, root)
    rel_dir = "" if rel_dir == "." else rel_dir
    keep = []
    for d in sorted(dirnames):
        rel = f"{rel_dir}/{d}" if rel_dir else d
        # Without exceptions nothing under an excluded directory can come back: skip it
        # whole (target/ alone holds hundreds of thousands of files).
        if has_exceptions or not excluded(rel) or os.path.islink(os.path.join(dirpath, d)):
            keep.append(d)
            if os.path.islink(os.path.join(dirpath, d)) and not excluded(rel):
                context.append(rel)
    dirnames[:] = [d for d in keep if not os.path.islink(os.path.join(dirpath, d))]
    for f in sorted(filenames):
        rel = f"{rel_dir}/{f}" if rel_dir else f
        if not excluded(rel):
            context.append(rel)
context_set = set(context)

# --- COPY: Docker's rules for sources and destinations.
def copy_file(rel, target):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    source = os.path.join(root, rel)
    if os.path.islink(source):
        if os.path.lexists(target):
            os.remove(target)
        os.symlink(os.readlink(source), target)
    else:
        shutil.copy2(source, target)

staged = set()
wildcard = re.compile(r"[*?\[]")
for sources, dest in build["copies"]:
    dest_path = dest if dest.startswith("/") else os.path.join(build["workdir"], dest)
    dest_is_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    expanded = []
    for src in sources:
        src = os.path.normpath(src).lstrip("/")
        src = "" if src == "." else src
        if wildcard.search(src):
            regex = translate(src)
            depth = src.count("/")
            tops = sorted({"/".join(p.split("/")[: depth + 1]) for p in context})
            matches = [t for t in tops if regex.match(t)]
            if not matches:
                fail(f"COPY {src}: no file in the build context matches (or .dockerignore excludes it)")
            expanded += matches
            dest_is_dir = True
        else:
            expanded.append(src)
    for src in expanded:
        under = [p for p in context if src == "" or p.startswith(src + "/")]
        if src in context_set:  # a file
            name = os.path.basename(src)
            target = os.path.join(dest_path, name) if dest_is_dir or dest_path.endswith("/") else dest_path
            copy_file(src, fs + os.path.normpath(target))
            staged.add(src)
        elif under:  # a directory: its contents
            for p in under:
                inner = p[len(src) + 1:] if src else p
                copy_file(p, fs + os.path.normpath(os.path.join(dest_path, inner)))
                staged.add(p)
        else:
            fail(f"COPY {src or '.'}: not in the build context (missing, or excluded by .dockerignore)")

size = sum(os.path.getsize(os.path.join(root, p)) for p in staged if not os.path.islink(os.path.join(root, p)))
print(f"check-docker-context: {dockerfile}: stage {build['name'] or index}, WORKDIR {build['workdir']}: "
      f"{len(staged)} of {len(context)} context files staged ({size / 1e6:.1f} MB)", file=sys.stderr)
for later in stages[index + 1:]:
    for source_stage, paths in later["from"]:
        if source_stage in (build["name"], str(index)):
            for p in paths:
                print(f"from-build {p}")
print(build["workdir"])
PY
)
workdir=$(tail -n 1 <<<"$plan")
mkdir -p "$tmp/fs$workdir"

# As in the image: cargo's default target directory under WORKDIR, no git repository around
# the sources (build.rs then records revision "unknown" unless GENESYS_EXPORTER_REVISION is set).
# The release profile as the image has it (no debug assertions, the same cfgs and features), but
# without optimization unless OPTIMIZE=1: what this checks is the context (every file the build
# needs is copied, the binary is where the runtime stage takes it from), which codegen does not
# change, and the optimized build took 4-5 of the CI run's 11-14 minutes on 2 cores.
opt_level=0
[[ ${OPTIMIZE:-} == 1 ]] && opt_level=3
echo "check-docker-context: cargo build --locked --release --bin genesys-exporter (opt-level $opt_level) in $tmp/fs$workdir" >&2
if ! (cd "$tmp/fs$workdir" &&
    CARGO_TARGET_DIR="$tmp/fs$workdir/target" GIT_CEILING_DIRECTORIES="$tmp" \
        CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level \
        cargo build --locked --release --bin genesys-exporter); then
    echo "check-docker-context: FAILED: the image's build stage does not build from its context" >&2
    exit 1
fi

status=0
while read -r word path; do
    [[ $word == from-build ]] || continue
    if [[ ! -e $tmp/fs$path ]]; then
        echo "check-docker-context: FAILED: the runtime stage copies $path, which the build did not produce" >&2
        status=1
    fi
done <<<"$plan"
[[ $status == 0 ]] || exit 1
"$tmp/fs$workdir/target/release/genesys-exporter" --version >&2
echo "check-docker-context: OK in $((SECONDS - started)) s" >&2
