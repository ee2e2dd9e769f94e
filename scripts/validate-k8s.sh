#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/kubernetes/ and its sharded component in
# deploy/kubernetes/sharded/ (CI runs it from .ci/run):
#   1. the generated files (prometheusrule.yaml, dashboard-configmap.yaml) are up to date with
#      their sources (scripts/gen-k8s.sh) and carry them unchanged;
#   2. every manifest parses, kustomization.yaml (and sharded/kustomization.yaml) lists every
#      manifest but secret.example.yaml, and `kubectl kustomize` (when kubectl is installed)
#      renders the kustomization, and the kustomization with the sharded component (through a
#      throwaway overlay, as a user applies it);
#   3. the workload (the Deployment; with the component, the StatefulSet instead) meets Pod
#      Security Standards "restricted" and the project's choices (one replica, or one pod per
#      shard with --shard from its ordinal; probes, resources, the credentials as files), and
#      the workload, Service and ServiceMonitor agree on labels, ports and the secret;
#   4. built-in kinds (Deployment, StatefulSet, Service, ConfigMap, Secret) against the
#      Kubernetes schemas with kubernetes-validate --strict, for Kubernetes $KUBE_VERSIONS;
#   5. ServiceMonitor and PrometheusRule against the Prometheus Operator's JSON schemas in
#      deploy/kubernetes/schemas/ with check-jsonschema.
# Steps 3-5 check both the files as written and the rendered output. Without kubectl, the
# sharded set is composed from the files as kustomize would (the base, less what the
# component's patches delete, plus its resources) and checked the same way. Every failure
# names the file and the reason; the exit status is 1 when anything failed.
#
# The tools come from PyPI into a virtualenv cached under ~/.cache/genesys-exporter/ (keyed by
# the pins below and the Python version; GENESYS_K8S_VENV overrides the path). Needs python3
# with venv, and network access to PyPI the first time.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
k8s="$repo/deploy/kubernetes"
schemas="$k8s/schemas"
# Kubernetes versions for kubernetes-validate: the oldest this targets and the newest its
# pinned release knows.
KUBE_VERSIONS="${KUBE_VERSIONS:-1.30 1.37}"
# Every package pinned, transitive ones included, so CI is reproducible. To update: install the
# direct ones unpinned in a fresh venv, run this script, and copy `pip freeze` here.
PINS=(
    kubernetes-validate==1.37.0
    check-jsonschema==0.39.0
    PyYAML==6.0.3
    attrs==26.1.0
    certifi==2026.10.19.post1
    charset-normalizer==3.5.3
    click==8.5.1
    idna==3.20
    importlib_resources==7.1.0
    jsonschema==4.26.0
    jsonschema-specifications==2025.9.1
    packaging==26.4
    referencing==0.37.0
    regress==2026.9.1
    requests==2.34.2
    rpds-py==2026.9.1
    ruamel.yaml==0.19.1
    typing_extensions==4.16.0
    urllib3==2.8.0
)

start=$SECONDS
failed=0
fail() { echo "validate-k8s: FAIL: $*" >&2; failed=1; }
note() { echo "validate-k8s: $*"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- tools ----------------------------------------------------------------------------------
python3 -c 'import venv, ensurepip' 2>/dev/null || {
    echo "validate-k8s: FAIL: python3 with the venv module is needed (Debian: python3-venv)" >&2
    exit 1
}
key="$({ printf '%s\n' "${PINS[@]}"; python3 -c 'import sys; print(sys.version, sys.executable)'; } |
    sha256sum | cut -c1-16)"
venv="${GENESYS_K8S_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/genesys-exporter/k8s-venv-$key}"
mkdir -p "$(dirname "$venv")"
{
    flock 9
    if [ ! -f "$venv/.complete" ] ||
        ! "$venv/bin/python" -c 'import kubernetes_validate, check_jsonschema, yaml' 2>/dev/null; then
        note "installing kubernetes-validate, check-jsonschema and PyYAML into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
            "${PINS[@]}"; then
            rm -rf "$venv"
            echo "validate-k8s: FAIL: pip install of the validation tools failed" >&2
            exit 1
        fi
        touch "$venv/.complete"
    fi
} 9>"$venv.lock"
py="$venv/bin/python"
note "tools: kubernetes-validate $("$py" -m kubernetes_validate --version)," \
    "check-jsonschema $("$py" -m check_jsonschema --version | sed 's/.*version //')"

# --- 1. generated files up to date ----------------------------------------------------------
if bash "$repo/scripts/gen-k8s.sh" "$work/gen" >/dev/null; then
    for f in prometheusrule.yaml dashboard-configmap.yaml; do
        if [ ! -f "$k8s/$f" ]; then
            fail "deploy/kubernetes/$f is missing: run scripts/gen-k8s.sh"
        elif ! diff -u "$k8s/$f" "$work/gen/$f" >"$work/gen.diff"; then
            head -n 40 "$work/gen.diff" >&2
            fail "deploy/kubernetes/$f is out of date with its source (diff above, '+' is" \
                "what the generator writes): run scripts/gen-k8s.sh"
        fi
    done
else
    fail "scripts/gen-k8s.sh failed (its message is above)"
fi

# --- 2. kustomize -----------------------------------------------------------------------------
rendered=""
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    kustomize_cmd=(kubectl kustomize)
elif command -v kustomize >/dev/null 2>&1; then
    kustomize_cmd=(kustomize build)
else
    kustomize_cmd=()
    note "no kubectl (with kustomize) or kustomize here: the kustomization is checked by" \
        "parsing its resources, not rendered"
fi
rendered_sharded=""
if [ ${#kustomize_cmd[@]} -gt 0 ]; then
    if "${kustomize_cmd[@]}" "$k8s" >"$work/rendered.yaml" 2>"$work/kustomize.err"; then
        rendered="$work/rendered.yaml"
        note "rendered deploy/kubernetes with ${kustomize_cmd[*]}" \
            "($(grep -c '^kind:' "$rendered") resources)"
    else
        cat "$work/kustomize.err" >&2
        fail "deploy/kubernetes/kustomization.yaml: ${kustomize_cmd[*]} failed (above)"
    fi
    # A Component is not built on its own: a throwaway overlay outside deploy/kubernetes takes
    # the base and the component, as the user's overlay does (sharded/kustomization.yaml).
    overlay="$work/overlay"
    mkdir -p "$overlay"
    relpath() { python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$2"; }
    printf '%s\n' "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" \
        "resources:" "  - $(relpath "$k8s" "$overlay")" \
        "components:" "  - $(relpath "$k8s/sharded" "$overlay")" >"$overlay/kustomization.yaml"
    if "${kustomize_cmd[@]}" "$overlay" >"$work/rendered-sharded.yaml" 2>"$work/kustomize.err"
    then
        rendered_sharded="$work/rendered-sharded.yaml"
        note "rendered deploy/kubernetes with the component deploy/kubernetes/sharded" \
            "($(grep -c '^kind:' "$rendered_sharded") resources)"
    else
        cat "$work/kustomize.err" >&2
        fail "deploy/kubernetes/sharded/kustomization.yaml: ${kustomize_cmd[*]} of an overlay" \
            "with the component failed (above)"
    fi
fi

# --- 2-3. parse, cross-checks and policy; split resources per kind for steps 4-5 -----------
mkdir -p "$work/split"
"$py" - "$repo" "$work/split" "$rendered" "$rendered_sharded" <<'PY' || failed=1
import os
import re
import sys

import yaml

repo, split, rendered, rendered_sharded = sys.argv[1:5]
K8S = "deploy/kubernetes"
SHARDED = f"{K8S}/sharded"
RULES = "prometheus/genesys-rules.yml"
DASHBOARD = "grafana/dashboards/genesys-overview.json"
BUILTIN = {"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret"}
WORKLOADS = ("Deployment", "StatefulSet")
# The downward API field the sharded StatefulSet reads its shard from (Kubernetes 1.28+).
POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"
CRDS = {"ServiceMonitor": "servicemonitor", "PrometheusRule": "prometheusrule"}
EXAMPLES = {"secret.example.yaml"}
failures = 0


def fail(where, msg):
    global failures
    failures += 1
    print(f"validate-k8s: FAIL: {where}: {msg}", file=sys.stderr)


def load(rel, path=None):
    """All non-empty documents of a YAML file, or None when it does not parse."""
    try:
        with open(path or os.path.join(repo, rel), encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        fail(rel, f"does not parse as YAML: {e}")
        return None


def ident(doc):
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def parse_dir(rel, kind):
    """Every YAML file of the directory `rel` parses, every document is a Kubernetes object,
    and its kustomization.yaml (of `kind`: Kustomization or Component) lists every manifest
    once, except the examples, and only files that exist. Returns the documents by file name,
    the kustomization and the file names it lists."""
    docs = {}  # file name -> documents
    here = os.path.join(repo, rel)
    for name in sorted(os.listdir(here)):
        if name.endswith((".yaml", ".yml")):
            loaded = load(f"{rel}/{name}")
            if loaded is None:
                continue
            for d in loaded:
                if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
                    fail(f"{rel}/{name}", "a document without apiVersion and kind")
                elif name != "kustomization.yaml" and not (d.get("metadata") or {}).get("name"):
                    fail(f"{rel}/{name}", f"{d['kind']} without metadata.name")
            docs[name] = [d for d in loaded if isinstance(d, dict)]
    kust = (docs.get("kustomization.yaml") or [None])[0]
    if not kust:
        fail(f"{rel}/kustomization.yaml", "missing or empty")
        return docs, None, []
    if kust.get("kind") != kind:
        fail(f"{rel}/kustomization.yaml", f"kind is {kust.get('kind')!r}, expected {kind}")
    listed = kust.get("resources") or []
    for r in listed:
        if not isinstance(r, str) or not os.path.isfile(os.path.join(here, r)):
            fail(f"{rel}/kustomization.yaml", f"resource {r!r} is not a file in {rel}/")
    for r in sorted({r for r in listed if listed.count(r) > 1}):
        fail(f"{rel}/kustomization.yaml", f"resource {r!r} is listed twice")
    for name in sorted(set(docs) - {"kustomization.yaml"} - EXAMPLES - set(listed)):
        fail(f"{rel}/kustomization.yaml", f"{name} is not listed in resources")
    for name in sorted(EXAMPLES & set(listed)):
        fail(f"{rel}/kustomization.yaml", f"{name} is listed in resources: applying it would "
             "replace the real Secret with placeholders")
    images = [i.get("name") for i in kust.get("images") or []]
    if "ghcr.io/genesys-exporter/genesys-exporter" not in images:
        fail(f"{rel}/kustomization.yaml", "no images: entry for "
             "ghcr.io/genesys-exporter/genesys-exporter")
    return docs, kust, listed


def deleted_by(rel, kust):
    """Kind/name of each resource that a `$patch: delete` patch of the kustomization removes."""
    gone = set()
    for p in (kust or {}).get("patches") or []:
        try:
            patch = yaml.safe_load(p.get("patch") or "") if isinstance(p, dict) else None
        except yaml.YAMLError as e:
            fail(f"{rel}/kustomization.yaml", f"a patch does not parse: {e}")
            continue
        if isinstance(patch, dict) and patch.get("$patch") == "delete":
            gone.add(ident(patch))
    return gone


def check_rendered(where, out, want, ns):
    """The rendered output holds exactly the resources `want`, all in namespace `ns`."""
    kinds = sorted(ident(d) for d in out)
    want = sorted(ident(d) for d in want)
    if kinds != want:
        fail(where, f"renders {kinds}, the listed files hold {want}")
    for d in out:
        if ns and d["metadata"].get("namespace") != ns:
            fail(where, f"{ident(d)} not in namespace {ns}")


# The base, and the sharded component over it.
docs, kust, listed = parse_dir(K8S, "Kustomization")
sdocs, skust, slisted = parse_dir(SHARDED, "Component")
ns = kust.get("namespace") if kust else None
if skust and skust.get("namespace") != ns:
    fail(f"{SHARDED}/kustomization.yaml", f"namespace is {skust.get('namespace')!r}, "
         f"{K8S}/kustomization.yaml's is {ns!r}")
base_docs = [d for n in listed for d in docs.get(n, [])]
gone = deleted_by(SHARDED, skust)
for g in sorted(gone - {ident(d) for d in base_docs}):
    fail(f"{SHARDED}/kustomization.yaml", f"deletes {g}, which {K8S} does not hold")
# What kustomize makes of the base with the component, composed from the files (so that the
# checks of step 3 run without kubectl too).
composed = ([d for d in base_docs if ident(d) not in gone]
            + [d for n in slisted for d in sdocs.get(n, [])])

# Where each set of resources comes from, as failures name it.
WHERE = {
    "files": K8S,
    "rendered": f"{K8S} (rendered by kustomize)",
    "sharded files": SHARDED,
    "sharded composed": f"{SHARDED} (composed with {K8S})",
    "sharded rendered": f"{SHARDED} (rendered by kustomize with {K8S})",
}
# Schemas (steps 4-5): the listed manifests and the examples as written, and the rendered
# outputs.
sets = {
    "files": [(f"{K8S}/{n}", d) for n in listed + sorted(EXAMPLES) for d in docs.get(n, [])],
    "sharded files": [(f"{SHARDED}/{n}", d) for n in slisted + sorted(EXAMPLES)
                      for d in sdocs.get(n, [])],
}
# Policy (step 3): each set that is a whole installation, with the directory whose
# secret.example.yaml and kustomization apply to it.
whole = {"files": (K8S, docs, kust), "sharded composed": (SHARDED, sdocs, skust)}
composed_items = [(WHERE["sharded composed"], d) for d in composed]
if rendered:
    out = load("kubectl kustomize output", rendered)
    if out is not None:
        sets["rendered"] = [(WHERE["rendered"], d) for d in out]
        whole["rendered"] = (K8S, docs, kust)
        check_rendered(WHERE["rendered"], out, base_docs, ns)
if rendered_sharded:
    out = load("kubectl kustomize output with the sharded component", rendered_sharded)
    if out is not None:
        sets["sharded rendered"] = [(WHERE["sharded rendered"], d) for d in out]
        whole["sharded rendered"] = (SHARDED, sdocs, skust)
        check_rendered(WHERE["sharded rendered"], out, composed, ns)

# Write each resource to its own file, by kind, for kubernetes-validate and check-jsonschema.
for label, items in sets.items():
    for i, (where, d) in enumerate(items):
        kind = d.get("kind")
        if kind in BUILTIN:
            sub = "builtin"
        elif kind in CRDS:
            sub = CRDS[kind]
        else:
            fail(where, f"{ident(d)}: no schema for kind {kind!r} (known: "
                 f"{', '.join(sorted(BUILTIN | set(CRDS)))}): extend scripts/validate-k8s.sh")
            continue
        # Named after the source: the manifest's path under deploy/kubernetes ('/' as '_'),
        # or `rendered` / `sharded-rendered`.
        if label.endswith("files"):
            src = os.path.relpath(where, K8S).replace("/", "_")
        else:
            src = label.replace(" ", "-")
        name = f"{src}--{kind.lower()}-{d['metadata'].get('name')}.yaml"
        os.makedirs(os.path.join(split, sub), exist_ok=True)
        with open(os.path.join(split, sub, name), "w", encoding="utf-8") as f:
            yaml.safe_dump(d, f, sort_keys=False)


def one(items, kind, where):
    found = [d for _, d in items if d.get("kind") == kind]
    if len(found) != 1:
        fail(where, f"expected exactly one {kind}, found {len(found)}")
        return None
    return found[0]


def seconds(d):
    m = re.fullmatch(r"((\d+)h)?((\d+)m(?!s))?((\d+)s)?((\d+)ms)?", str(d or ""))
    if not d or not m:
        return None
    h, mi, s, ms = (int(m.group(g) or 0) for g in (2, 4, 6, 8))
    return h * 3600 + mi * 60 + s + ms / 1000


def check(items, where, layout):
    """The generated content, Pod Security Standards "restricted", and agreement between
    the workload (Deployment or sharded StatefulSet), Service, ServiceMonitor and Secret.
    `layout`: the directory whose secret.example.yaml and kustomization apply, its
    documents and its kustomization."""
    layout_dir, layout_docs, layout_kust = layout
    # Generated resources carry their sources unchanged.
    rule = one(items, "PrometheusRule", where)
    if rule:
        src = (load(RULES) or [{}])[0]
        if (rule.get("spec") or {}).get("groups") != src.get("groups"):
            fail(where, f"PrometheusRule spec.groups differs from {RULES}")
    cm = one(items, "ConfigMap", where)
    if cm:
        with open(os.path.join(repo, DASHBOARD), encoding="utf-8") as f:
            text = f.read()
        key = os.path.basename(DASHBOARD)
        if (cm.get("data") or {}).get(key) != text:
            fail(where, f"ConfigMap data[{key!r}] differs from {DASHBOARD}")
        if (cm["metadata"].get("labels") or {}).get("grafana_dashboard") != "1":
            fail(where, 'ConfigMap lacks the label grafana_dashboard: "1" (Grafana sidecar)')

    workloads = [d for _, d in items if d.get("kind") in WORKLOADS]
    dep = workloads[0] if len(workloads) == 1 else None
    if not dep:
        fail(where, f"expected exactly one Deployment or StatefulSet, found {len(workloads)}")
    svc = one(items, "Service", where)
    mon = one(items, "ServiceMonitor", where)
    if not dep:
        return
    spec = dep.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    psc = pod.get("securityContext") or {}
    tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    w = f"{where}: {dep['kind']}/{dep['metadata'].get('name')}"
    # A StatefulSet shards the org: one pod per shard, `shards` of them.
    shards = None
    if dep["kind"] == "Deployment":
        if spec.get("replicas") != 1:
            fail(w, f"replicas is {spec.get('replicas')!r}; 1 (each replica polls Genesys)")
    else:
        shards = spec.get("replicas")
        if not isinstance(shards, int) or shards < 1:
            fail(w, f"replicas is {shards!r}: one pod per shard, at least 1")
            shards = None
        if svc and spec.get("serviceName") != svc["metadata"].get("name"):
            fail(w, f"serviceName {spec.get('serviceName')!r} is not the Service "
                 f"{svc['metadata'].get('name')!r}")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    if not sel or any(tmpl_labels.get(k) != v for k, v in sel.items()):
        fail(w, f"selector {sel} does not match the pod labels {tmpl_labels}")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(k):
            fail(w, f"{k} is not allowed (restricted)")
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                       "persistentVolumeClaim", "projected", "secret"}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for v in volumes.values():
        kinds = set(v) - {"name"}
        if not kinds <= allowed_volumes:
            fail(w, f"volume {v.get('name')!r} of type {sorted(kinds)} (restricted allows "
                 f"{', '.join(sorted(allowed_volumes))})")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        fail(w, f"expected one container, found {len(containers)}")
    ports = {}
    for c in containers + (pod.get("initContainers") or []):
        cw = f"{w} container {c.get('name')!r}"
        sc = c.get("securityContext") or {}

        def eff(k):
            return sc.get(k, psc.get(k))

        if sc.get("privileged"):
            fail(cw, "privileged (restricted)")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(cw, "securityContext.allowPrivilegeEscalation must be false (restricted)")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            fail(cw, "securityContext.capabilities.drop must contain ALL (restricted)")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            fail(cw, f"capabilities.add {caps.get('add')} (restricted: NET_BIND_SERVICE only)")
        if eff("runAsNonRoot") is not True:
            fail(cw, "runAsNonRoot must be true (restricted)")
        if eff("runAsUser") in (0, None):
            fail(cw, "runAsUser must be set and not 0 (the image's user is 65532)")
        if ((eff("seccompProfile") or {}).get("type")) not in ("RuntimeDefault", "Localhost"):
            fail(cw, "seccompProfile.type must be RuntimeDefault or Localhost (restricted)")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(cw, "readOnlyRootFilesystem must be true (the exporter writes nothing)")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory") if part == "requests" else ("memory",):
                if not (res.get(part) or {}).get(r):
                    fail(cw, f"resources.{part}.{r} is not set")
        ports.update({p.get("name"): p.get("containerPort") for p in c.get("ports") or []})
        for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path:
                fail(cw, f"{probe} must be an httpGet of {path}")
            elif get.get("port") not in ports and get.get("port") not in ports.values():
                fail(cw, f"{probe} port {get.get('port')!r} is not a container port")
        args = c.get("args") or []

        def flag(name):
            return [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]

        env = {e.get("name"): e for e in c.get("env") or []}
        if not flag("genesys.region"):
            fail(cw, "no --genesys.region= argument")
        if "GENESYS_CLIENT_SECRET" in env:
            fail(cw, "GENESYS_CLIENT_SECRET in the environment; mount the secret as a file")
        # The shard: the pod's ordinal, of as many shards as pods. `ordinals`: what $(SHARD)
        # stands for in each pod.
        ordinals = [None]
        if shards is not None:
            if flag("shard") != ["$(SHARD)"]:
                fail(cw, f"--shard is {flag('shard')}; expected --shard=$(SHARD)")
            field = ((env.get("SHARD") or {}).get("valueFrom") or {}).get("fieldRef") or {}
            if field.get("fieldPath") != POD_INDEX:
                fail(cw, f"SHARD must come from the downward API: fieldRef {POD_INDEX}")
            if flag("total-shards") != [str(shards)]:
                fail(cw, f"--total-shards is {flag('total-shards')}; expected "
                     f"--total-shards={shards}, one shard per replica")
            ordinals = [str(n) for n in range(shards)]
        elif flag("shard") or flag("total-shards"):
            fail(cw, f"--shard or --total-shards on a {dep['kind']}: shard with the "
                 f"StatefulSet of {SHARDED}")

        def secret_key(name, path):
            """(Secret name, key) of the file `path` in a mounted secret volume, or None."""
            mount = next((m for m in c.get("volumeMounts") or []
                          if path.startswith(m.get("mountPath", "").rstrip("/") + "/")), None)
            vol = volumes.get(mount.get("name")) if mount else None
            secret = (vol or {}).get("secret")
            if not secret:
                fail(cw, f"--{name}={path} is not in a mounted secret volume")
                return None
            rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
            items_ = secret.get("items")
            if items_ is None:
                # A whole Secret mounted: one file per key, named after it.
                return secret.get("secretName"), rel
            item = next((i for i in items_ if i.get("path") == rel), None)
            if not item:
                fail(cw, f"secret volume {vol['name']!r} has no item with path {rel!r}")
                return None
            return secret.get("secretName"), item.get("key")

        # The credentials: files from a secret volume, each pod its own with shards (the
        # budget is per token); the id may come from the same Secret through the environment.
        secret_files = flag("genesys.client-secret-file")
        id_files = flag("genesys.client-id-file")
        if len(secret_files) != 1:
            fail(cw, "expected one --genesys.client-secret-file= argument")
            continue
        if len(id_files) > 1:
            fail(cw, "--genesys.client-id-file= given more than once")
            continue
        if shards is not None and not id_files:
            fail(cw, "no --genesys.client-id-file=: each shard needs its own OAuth client")
        refs = [(e.get("valueFrom") or {}).get("secretKeyRef") or {}
                for e in env.values() if e.get("name") == "GENESYS_CLIENT_ID"]
        read = []  # (Secret name, key) of every credential a pod reads
        for name, files in (("genesys.client-secret-file", secret_files),
                            ("genesys.client-id-file", id_files)):
            for path in files:
                if shards is not None and "$(SHARD)" not in path:
                    fail(cw, f"--{name}={path}: every shard reads the same file; name it "
                         "after the shard with $(SHARD) (the budget is per token)")
                if shards is None and "$(SHARD)" in path:
                    fail(cw, f"--{name}={path}: $(SHARD) without shards")
                for n in ordinals:
                    key = secret_key(name, path.replace("$(SHARD)", n or ""))
                    if key:
                        read.append(key)
        secret_names = {name for name, _ in read}
        if len(secret_names) > 1:
            fail(cw, f"the credentials come from several Secrets: {sorted(secret_names)}")
        if not secret_names:
            continue
        secret_name = next(iter(secret_names))
        if not id_files:
            if not refs or refs[0].get("name") != secret_name:
                fail(cw, f"GENESYS_CLIENT_ID must come from the same Secret ({secret_name!r}) "
                     "through secretKeyRef, or use --genesys.client-id-file")
            else:
                read.append((secret_name, refs[0].get("key")))
        # The example Secret has the keys the pods read.
        example_file = f"{layout_dir}/secret.example.yaml"
        example = [d for d in layout_docs.get("secret.example.yaml", [])
                   if d.get("kind") == "Secret"]
        if not example:
            fail(example_file, "missing: an example of the Secret the workload reads")
        else:
            ex = example[0]
            keys = set(ex.get("stringData") or {}) | set(ex.get("data") or {})
            needed = {key for _, key in read}
            if ex["metadata"].get("name") != secret_name:
                fail(example_file, f"named {ex['metadata'].get('name')!r}, the "
                     f"{dep['kind']} reads {secret_name!r}")
            if needed - keys:
                fail(example_file, f"lacks the keys {sorted(needed - keys)}")
            ns = layout_kust.get("namespace") if layout_kust else None
            if ns and ex["metadata"].get("namespace") != ns:
                fail(example_file, f"namespace is not {ns!r}, the kustomization's")
    # Service -> pods, ServiceMonitor -> Service.
    if svc:
        sw = f"{where}: Service/{svc['metadata'].get('name')}"
        ssel = (svc.get("spec") or {}).get("selector") or {}
        if not ssel or any(tmpl_labels.get(k) != v for k, v in ssel.items()):
            fail(sw, f"selector {ssel} does not select the pods {tmpl_labels}")
        sports = {p.get("name"): p for p in (svc.get("spec") or {}).get("ports") or []}
        for p in sports.values():
            t = p.get("targetPort", p.get("port"))
            if t not in ports and t not in ports.values():
                fail(sw, f"targetPort {t!r} is not a container port")
        if mon:
            mw = f"{where}: ServiceMonitor/{mon['metadata'].get('name')}"
            mspec = mon.get("spec") or {}
            msel = (mspec.get("selector") or {}).get("matchLabels") or {}
            slabels = svc["metadata"].get("labels") or {}
            if not msel or any(slabels.get(k) != v for k, v in msel.items()):
                fail(mw, f"selector {msel} does not select the Service's labels {slabels}")
            for e in mspec.get("endpoints") or [{}]:
                if e.get("port") not in sports:
                    fail(mw, f"endpoint port {e.get('port')!r} is not a Service port name")
                iv, to = seconds(e.get("interval")), seconds(e.get("scrapeTimeout"))
                if iv is None or to is None or to > iv:
                    fail(mw, f"interval {e.get('interval')!r} and scrapeTimeout "
                         f"{e.get('scrapeTimeout')!r}: both needed, timeout <= interval")


for label, layout in whole.items():
    items = composed_items if label == "sharded composed" else sets[label]
    check(items, WHERE[label], layout)

sys.exit(1 if failures else 0)
PY

# --- 4. built-in kinds: kubernetes-validate -----------------------------------------------
shopt -s nullglob
builtin=("$work"/split/builtin/*.yaml)
if [ ${#builtin[@]} -eq 0 ]; then
    fail "deploy/kubernetes: no Deployment, Service, ConfigMap or Secret to validate"
else
    kv_args=()
    for v in $KUBE_VERSIONS; do kv_args+=(-k "$v"); done
    # --quiet prints only problems. A kind or apiVersion without a schema is only a warning
    # there (exit 0), so any output at all fails.
    (cd "$work/split/builtin" && "$py" -m kubernetes_validate --strict --quiet "${kv_args[@]}" \
        ./*.yaml) >"$work/kv.out" 2>&1 && kv=0 || kv=$?
    if [ "$kv" -ne 0 ] || [ -s "$work/kv.out" ]; then
        sed 's/^/  /' "$work/kv.out" >&2
        fail "kubernetes-validate (Kubernetes $KUBE_VERSIONS, strict): see above; a file" \
            "named SOURCE--kind-name.yaml is that resource from deploy/kubernetes/SOURCE" \
            "('_' for '/'; rendered, sharded-rendered: the kustomize output)"
    else
        note "kubernetes-validate --strict (Kubernetes $KUBE_VERSIONS): ${#builtin[@]}" \
            "resources valid: $(cd "$work/split/builtin" && echo *.yaml)"
    fi
fi

# --- 5. Prometheus Operator kinds: check-jsonschema ---------------------------------------
# deploy/kubernetes/schemas/ is a copy of shared/k8s-schemas/ (see its SOURCES.md), so CI
# does not depend on a checkout beside the repository; when that checkout exists, say if the
# copy has drifted.
shared="$repo/../shared/k8s-schemas"
if [ -d "$shared" ] && ! diff -rq "$shared" "$schemas" >"$work/schemas.diff" 2>&1; then
    note "warning: deploy/kubernetes/schemas/ differs from ../shared/k8s-schemas/ (copy" \
        "it over to update):"
    sed 's/^/  /' "$work/schemas.diff"
fi
# The CRDs' patterns are Go (RE2) regular expressions. check-jsonschema reads patterns as
# ECMAScript and refuses a schema with one it cannot compile, such as PrometheusRule's
# '^(?i)(abort|warn)?$' (an inline flag, which Python's dialect refuses too, after '^'). Such
# patterns are replaced by an equivalent in a temporary copy of the schema; a new one fails
# here by name (add it to the table).
mkdir -p "$work/schemas"
"$py" - "$schemas" "$work/schemas" <<'PY' || fail "deploy/kubernetes/schemas: cannot prepare"
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
GO_TO_ECMA = {"^(?i)(abort|warn)?$": "^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$"}
def walk(node, path, name):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str) and v in GO_TO_ECMA:
                print(f"validate-k8s: {name}: Go pattern {v!r} checked as {GO_TO_ECMA[v]!r}")
                node[k] = GO_TO_ECMA[v]
            else:
                walk(v, f"{path}.{k}", name)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}[{i}]", name)
for name in sorted(os.listdir(src)):
    if name.endswith(".json"):
        with open(os.path.join(src, name), encoding="utf-8") as f:
            schema = json.load(f)
        walk(schema, "$", name)
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            json.dump(schema, f)
PY
for kind in servicemonitor prometheusrule; do
    files=("$work/split/$kind"/*.yaml)
    if [ ${#files[@]} -eq 0 ]; then
        fail "deploy/kubernetes: no $kind to validate"
        continue
    fi
    if [ ! -f "$schemas/${kind}_v1.json" ]; then
        fail "deploy/kubernetes/schemas/${kind}_v1.json is missing"
        continue
    fi
    if (cd "$work/split/$kind" && "$py" -m check_jsonschema --color never \
        --schemafile "$work/schemas/${kind}_v1.json" ./*.yaml) >"$work/cj.out" 2>&1; then
        note "check-jsonschema (schemas/${kind}_v1.json): ${#files[@]} resources valid:" \
            "$(cd "$work/split/$kind" && echo *.yaml)"
    else
        sed 's/^/  /' "$work/cj.out" >&2
        fail "check-jsonschema against deploy/kubernetes/schemas/${kind}_v1.json: see above" \
            "(SOURCE--kind-name.yaml is that resource from deploy/kubernetes/SOURCE, '_'" \
            "for '/')"
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "validate-k8s: FAILED ($((SECONDS - start)) s)" >&2
    exit 1
fi
note "OK: deploy/kubernetes and deploy/kubernetes/sharded are valid ($((SECONDS - start)) s)"
