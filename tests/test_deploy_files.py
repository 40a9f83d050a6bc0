"""The Dockerfile, compose files and Kubernetes manifests, checked without Docker or a cluster.

The files are rendered by the real tools (docker-compose config, kubectl
kustomize), validated against the published schemas (compose-spec,
Kubernetes OpenAPI) and then cross-checked: what one object names, another
must provide (labels, ports, Secret and ConfigMap keys, worker counts).
Under CI a missing tool is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

OVERLAYS = ("webui", "headless-job", "own-locustfile", "prometheus-operator")
COMPOSE = ("docker-compose.yml",)
HEADLESS = ("docker-compose.yml", "docker-compose.headless.yml")
OWN = ("docker-compose.yml", "docker-compose.headless.yml", "docker-compose.own-locustfile.yml")
MOUNT = "/mnt/locust"  # where a ConfigMap (or a bind mount) of your own locustfiles goes, everywhere
MASTER = {"app.kubernetes.io/name": "dbswarm", "app.kubernetes.io/component": "master"}
WORKER = {"app.kubernetes.io/name": "dbswarm", "app.kubernetes.io/component": "worker"}


def _tool(name: str) -> str:
    venv_bin = os.path.join(os.path.dirname(sys.executable), name)
    path = venv_bin if os.access(venv_bin, os.X_OK) else shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (make deploy-tools / pip install -r requirements-dev.txt)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _run(*cmd, env=None, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env, input=input)


def locust_pin() -> str:
    with open(os.path.join(REPO, "requirements.txt")) as f:
        return re.search(r"^locust==(\S+)$", f.read(), re.M).group(1)


def _read(path: str) -> str:
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def _flag(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {args}"
    return str(args[args.index(flag) + 1])


# --- Dockerfile -------------------------------------------------------------------------

def test_dockerfile_base_image_is_the_pinned_locust():
    text = _read("Dockerfile")
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
    assert base == f"locustio/locust:{locust_pin()}"
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)


def test_dockerfile_installs_the_suite_and_runs_as_non_root():
    lines = [ln.strip() for ln in _read("Dockerfile").splitlines() if ln.strip() and not ln.startswith("#")]
    text = "\n".join(lines)
    assert "COPY requirements.txt ./" in lines and "-r requirements.txt" in text
    assert "COPY locustfiles/ locustfiles/" in lines and "COPY plugins/ plugins/" in lines
    # plugins/ and locustfiles/ sit in the working directory, which Locust puts on sys.path.
    workdirs = [ln.split()[1] for ln in lines if ln.startswith("WORKDIR ")]
    assert workdirs and workdirs[-1] == "/opt/dbswarm"
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "the last USER must be a numeric non-root uid"
    assert f"--uid {uid}" in text
    assert 'ENTRYPOINT ["locust"]' in lines
    ignored = _read(".dockerignore")
    assert "!plugins/" in ignored and "!locustfiles/" in ignored


# --- docker-compose ---------------------------------------------------------------------

def _compose_config(files, env_file=".env.example"):
    compose = _tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBSWARM_", "COMPOSE_"))}
    args = [compose, "--env-file", env_file]
    for f in files:
        args += ["-f", f]
    return _run(*args, "config", env=env)


@pytest.mark.parametrize("files", [COMPOSE, HEADLESS], ids=["compose", "compose-headless"])
def test_compose_config_is_valid(files):
    proc = _compose_config(files)
    assert proc.returncode == 0, proc.stderr


def test_compose_refuses_to_start_without_a_password(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    proc = _compose_config(COMPOSE, env_file=str(empty))
    assert proc.returncode != 0
    assert "DBSWARM_DB_PASSWORD" in proc.stderr


def test_compose_files_match_the_compose_spec():
    proc = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *HEADLESS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_files_hold_no_literal_password():
    for name in HEADLESS:
        for line in _read(name).splitlines():
            m = re.match(r"\s*(\w*PASSWORD\w*)\s*:\s*(.*)$", line)
            if m:
                assert m.group(2).startswith("${"), f"{name}: {m.group(1)} must come from .env, not the file"
    assert ".env" in _read(".gitignore").split()


def test_compose_master_and_workers_meet():
    cfg = yaml.safe_load(_compose_config(HEADLESS).stdout)["services"]
    master, worker = cfg["master"], cfg["worker"]
    assert set(master["depends_on"]) >= {"mysql", "postgres", "cloudwatch"}
    for db in ("mysql", "postgres"):
        assert cfg[db]["healthcheck"]["test"], db
        assert master["depends_on"][db]["condition"] == "service_healthy"
    assert cfg["cloudwatch"]["image"].startswith("motoserver/moto:")
    assert _flag(worker["command"], "--master-host") == "master"
    assert _flag(worker["command"], "--master-port") == _flag(master["command"], "--master-bind-port")
    assert "--db-init" in master["command"] and "--headless" in master["command"]
    assert _flag(master["command"], "--expect-workers").isdigit()
    assert master["volumes"][0].endswith(":/opt/dbswarm/reports:rw")
    for flag in ("--html", "--csv", "--json-file"):
        assert _flag(master["command"], flag).startswith("reports/")
    for service in (master, worker):
        env = service["environment"]
        assert service["image"].endswith(f"locust-{locust_pin()}")
        assert service["build"]["args"]["BASE_IMAGE"] == f"locustio/locust:{locust_pin()}"
        assert os.path.isfile(os.path.join(REPO, env["LOCUST_LOCUSTFILE"]))
        assert env["DBSWARM_DB_HOST"] == "mysql"
        assert env["DBSWARM_CLOUDWATCH_ENDPOINT"] == "http://cloudwatch:5000"
    assert "8089" in str(cfg["master"]["ports"])  # web UI (compose merges port lists)


# --- Kubernetes -------------------------------------------------------------------------

def _render(overlay: str) -> tuple[str, list[dict]]:
    proc = _run(_tool("kubectl"), "kustomize", os.path.join("k8s", "overlays", overlay))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(overlay):
    text, docs = _render(overlay)
    proc = _run(_tool("kubernetes-validate"), "--strict", "--quiet", "-", input=text)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert docs


def _pod_templates(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]


def _one(docs, labels):
    found = [(d, t) for d, t in _pod_templates(docs) if labels.items() <= t["metadata"]["labels"].items()]
    assert len(found) == 1, f"expected one workload with {labels}, found {[d['metadata']['name'] for d, _ in found]}"
    return found[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_wiring(overlay):
    _wiring(overlay)


def _wiring(overlay):
    """Check what every overlay must get right; return its objects for overlay-specific checks."""
    _, docs = _render(overlay)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    service = by_kind["Service"]["dbswarm-master"]
    svc_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert svc_ports["master"]["port"] == 5557 and svc_ports["web"]["port"] == 8089

    master, master_pod = _one(docs, MASTER)
    worker, worker_pod = _one(docs, WORKER)
    assert service["spec"]["selector"] == MASTER
    assert not (service["spec"]["selector"].items() <= worker_pod["metadata"]["labels"].items())
    for workload, pod in ((master, master_pod), (worker, worker_pod)):
        selector = workload["spec"].get("selector", {}).get("matchLabels")
        if workload["kind"] == "Deployment":
            assert selector and selector.items() <= pod["metadata"]["labels"].items()

    (mc,) = master_pod["spec"]["containers"]
    (wc,) = worker_pod["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in mc["ports"]}
    for p in svc_ports.values():
        if p["name"] in container_ports or p["name"] == "master":
            assert container_ports[p["targetPort"]] == p["port"]
    assert "--master" in mc["args"] and "--worker" in wc["args"]
    assert int(_flag(mc["args"], "--master-bind-port")) == svc_ports["master"]["port"]
    assert _flag(wc["args"], "--master-host") == service["metadata"]["name"]
    assert int(_flag(wc["args"], "--master-port")) == svc_ports["master"]["port"]
    assert "--db-init" in mc["args"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert mc[probe]["tcpSocket"]["port"] == "master", "probe the port that is open in headless mode too"

    secret_keys = _example_secret_keys()
    configmaps = by_kind["ConfigMap"]
    for pod in (master_pod, worker_pod):
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
        for c in pod["spec"]["containers"]:
            assert c["image"].endswith(f":locust-{locust_pin()}")
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind])
            for src in c.get("envFrom", []):
                assert src["configMapRef"]["name"] in configmaps
            for var in c.get("env", []):
                ref = var.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["name"] == "dbswarm-db"
                    assert ref["secretKeyRef"]["key"] in secret_keys
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["key"] in configmaps[ref["configMapKeyRef"]["name"]]["data"]
    assert "Secret" not in by_kind, "no Secret in the manifests: create it (k8s/secret.example.yaml)"
    env = configmaps[mc["envFrom"][0]["configMapRef"]["name"]]["data"]
    if env["LOCUST_LOCUSTFILE"].startswith(MOUNT + "/"):
        _mounted_locustfiles(by_kind, env["LOCUST_LOCUSTFILE"], (master_pod, worker_pod))
    else:
        assert os.path.isfile(os.path.join(REPO, env["LOCUST_LOCUSTFILE"]))
    return by_kind, master, mc, worker


def _mounted_locustfiles(by_kind, locustfile: str, pods) -> dict:
    """Every pod mounts one ConfigMap at MOUNT, and it holds the selected locustfile: its data."""
    names = set()
    for pod in pods:
        (c,) = pod["spec"]["containers"]
        (mount,) = [m for m in c.get("volumeMounts", []) if m["mountPath"] == MOUNT]
        assert mount.get("readOnly") is True
        (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
        names.add(volume["configMap"]["name"])
    (name,) = names
    data = by_kind["ConfigMap"][name]["data"]
    assert os.path.basename(locustfile) in data
    return data


def _example_secret_keys() -> set[str]:
    secret = yaml.safe_load(_read("k8s/secret.example.yaml"))
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "dbswarm-db"
    return set(secret["stringData"])


def test_headless_job_waits_for_its_workers_and_keeps_reports():
    by_kind, master, mc, worker = _wiring("headless-job")
    assert master["kind"] == "Job" and worker["kind"] == "Job"
    assert "Deployment" not in by_kind
    workers = int(_flag(mc["args"], "--expect-workers"))
    assert worker["spec"]["parallelism"] == worker["spec"]["completions"] == workers
    assert master["spec"]["backoffLimit"] == 0, "a retried master would re-seed and start another run"
    assert "--headless" in mc["args"] and _flag(mc["args"], "--run-time")
    mounts = {m["name"]: m["mountPath"] for m in mc["volumeMounts"]}
    volumes = {v["name"]: v for v in master["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["reports"]["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind["PersistentVolumeClaim"]
    for flag in ("--html", "--csv", "--json-file"):
        assert os.path.join("/opt/dbswarm", _flag(mc["args"], flag)).startswith(mounts["reports"])
    config = next(iter(by_kind["ConfigMap"].values()))["data"]
    assert "DBSWARM_REPORT_S3_BUCKET" in config


def test_webui_runs_a_master_deployment_and_scalable_workers():
    by_kind, master, mc, worker = _wiring("webui")
    assert master["kind"] == "Deployment" and master["spec"]["replicas"] == 1
    assert worker["kind"] == "Deployment" and worker["spec"]["replicas"] >= 2
    assert "--headless" not in mc["args"]


# --- your own locustfile, without a new image ---------------------------------------------

def test_own_locustfile_overlay_mounts_the_configmap_everywhere():
    by_kind, master, mc, worker = _wiring("own-locustfile")
    env = by_kind["ConfigMap"][mc["envFrom"][0]["configMapRef"]["name"]]["data"]
    assert env["LOCUST_LOCUSTFILE"] == f"{MOUNT}/inventory.py"
    pods = (master["spec"]["template"], worker["spec"]["template"])
    data = _mounted_locustfiles(by_kind, env["LOCUST_LOCUSTFILE"], pods)
    folder = os.path.join(REPO, "k8s", "overlays", "own-locustfile", "locustfiles")
    assert set(data) == set(os.listdir(folder)) - {"__pycache__"}
    for name, text in data.items():
        assert text == _read(os.path.join("k8s", "overlays", "own-locustfile", "locustfiles", name))


def test_dockerfile_lets_a_mounted_locustfile_import_plugins():
    text = _read("Dockerfile")
    assert re.search(r"^\s*PYTHONPATH=/opt/dbswarm\b", text, re.M)


def test_compose_own_locustfile_mounts_the_same_folder_at_the_same_path():
    proc = _compose_config(OWN)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)["services"]
    for name in ("master", "worker"):
        service = cfg[name]
        assert service["environment"]["LOCUST_LOCUSTFILE"] == f"{MOUNT}/inventory.py"
        (mount,) = [v for v in service["volumes"] if v.endswith(f":{MOUNT}:ro")]
        source = mount.rsplit(":", 2)[0]
        assert os.path.samefile(source, os.path.join(REPO, "k8s", "overlays", "own-locustfile", "locustfiles"))
    proc = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.own-locustfile.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _dockerfile_env() -> dict[str, str]:
    text = _read("Dockerfile").replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in line[4:].split()))
    return env


def test_own_locustfile_runs_with_the_images_layout(tmp_path, mysql_db):
    """The image's command line, locally: /opt/dbswarm as the Dockerfile builds it, the overlay's
    ConfigMap written out as Kubernetes mounts it, a working directory outside both."""
    from conftest import mysql_conn

    root = tmp_path / "image"
    workdir = root / "opt" / "dbswarm"
    workdir.mkdir(parents=True)
    for folder in ("plugins", "locustfiles"):  # the Dockerfile's COPY lines
        os.symlink(os.path.join(REPO, folder), workdir / folder)
    _, docs = _render("own-locustfile")
    by_kind = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    (files,) = [d for n, d in by_kind.items() if n.startswith("dbswarm-locustfiles")]
    (config,) = [d for n, d in by_kind.items() if n.startswith("dbswarm-config")]
    mount = root / MOUNT.lstrip("/")
    mount.mkdir(parents=True)
    for name, text in files["data"].items():
        (mount / name).write_text(text)
    image_env = _dockerfile_env()
    assert image_env["PYTHONPATH"] == "/opt/dbswarm"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBSWARM_", "LOCUST_", "PYTHON"))}
    env.update({
        "PYTHONUNBUFFERED": image_env["PYTHONUNBUFFERED"],
        "PYTHONPATH": str(root) + image_env["PYTHONPATH"],
        "LOCUST_LOCUSTFILE": str(root) + config["data"]["LOCUST_LOCUSTFILE"],
        "DBSWARM_DB_ENGINE": config["data"]["DBSWARM_DB_ENGINE"],
        "DBSWARM_DB_HOST": "127.0.0.1",
        "DBSWARM_DB_NAME": mysql_db,
    })
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    json_file = tmp_path / "stats"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "--headless", "-u", "3", "-r", "3", "-t", "3s", "--db-init",
         "--json-file", str(json_file)],
        cwd=outside, env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    import json
    with open(f"{json_file}.json") as f:
        stats = {e["name"]: e for e in json.load(f)}
    assert stats["check_stock"]["num_requests"] > 0 and stats["restock"]["num_requests"] > 0
    with mysql_conn(mysql_db) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*), COALESCE(SUM(delta), 0) FROM movements")
        movements, units = cur.fetchone()
        cur.execute("SELECT SUM(qty) - COUNT(*) * 10 FROM items")
        added = cur.fetchone()[0]
    assert movements == units == added == stats["restock"]["num_requests"] - stats["restock"]["num_failures"]


# --- the Locust Kubernetes operator -------------------------------------------------------

OPERATOR_CRD = "k8s/operator/crd/locust.io_locusttests.yaml"
LOCUSTTEST = "k8s/operator/locusttest.yaml"


def _strict(node):
    """The CRD's schema as the API server applies it with strict field validation: no unknown fields."""
    if isinstance(node, dict):
        if (node.get("type") == "object" and "properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


def _locusttest_schema(tmp_path) -> str:
    head = _read(OPERATOR_CRD).split("---", 1)[0]
    assert "locust-k8s-operator-2.3.0" in head and "github.com/AbdelrhmanHamouda/locust-k8s-operator" in head
    (crd,) = [d for d in yaml.safe_load_all(_read(OPERATOR_CRD)) if d]
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == "LocustTest"
    (v2,) = [v for v in crd["spec"]["versions"] if v["name"] == "v2"]
    path = tmp_path / "locusttest.schema.json"
    import json
    path.write_text(json.dumps(_strict(v2["schema"]["openAPIV3Schema"])))
    return str(path)


def test_operator_example_validates_against_the_published_crd(tmp_path):
    schema = _locusttest_schema(tmp_path)
    proc = _run(_tool("check-jsonschema"), "--schemafile", schema, LOCUSTTEST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The check can fail: a misspelt field is refused.
    bad = tmp_path / "bad.yaml"
    bad.write_text(_read(LOCUSTTEST).replace("srcMountPath:", "srcMountPth:"))
    proc = _run(_tool("check-jsonschema"), "--schemafile", schema, str(bad))
    assert proc.returncode != 0 and "srcMountPth" in proc.stdout + proc.stderr


def test_operator_example_runs_dbswarms_image_with_the_password_from_a_secret():
    test = yaml.safe_load(_read(LOCUSTTEST))
    spec = test["spec"]
    assert test["apiVersion"] == "locust.io/v2" and test["kind"] == "LocustTest"
    assert spec["image"].endswith(f":locust-{locust_pin()}")
    for role in ("master", "worker"):
        args = spec[role]["command"].split()
        assert _flag(args, "--locustfile") == f"{MOUNT}/inventory.py"
        assert not {"--master", "--worker", "--expect-workers"} & set(args), "the operator adds these"
    assert "--db-init" in spec["master"]["command"].split()
    assert spec["testFiles"]["srcMountPath"] == MOUNT
    assert os.path.isfile(os.path.join(REPO, "k8s", "overlays", "own-locustfile", "locustfiles", "inventory.py"))
    assert spec["env"]["secretRefs"] == [{"name": "dbswarm-db"}]
    assert "DBSWARM_DB_PASSWORD" in _example_secret_keys()
    assert not any("PASSWORD" in v["name"] for v in spec["env"]["variables"])
    security = spec["security"]
    assert security["podSecurityContext"]["runAsNonRoot"] is True
    assert security["containerSecurityContext"]["allowPrivilegeEscalation"] is False


# --- Prometheus: scrape annotations, ServiceMonitor ---------------------------------------

SERVICEMONITOR_CRD = "k8s/schemas/monitoring.coreos.com_servicemonitors-v0.93.0.yaml"


def _servicemonitor_validator():
    import jsonschema

    docs = [d for d in yaml.safe_load_all(_read(SERVICEMONITOR_CRD)) if d]
    (crd,) = docs
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == "ServiceMonitor"
    assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == "0.93.0"
    assert "github.com/prometheus-operator/prometheus-operator/blob/" in _read(SERVICEMONITOR_CRD).split("---")[0]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(_strict(version["schema"]["openAPIV3Schema"]))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_master_service_is_annotated_for_scraping_on_the_metrics_port(overlay):
    by_kind, _master, mc, _worker = _wiring(overlay)
    service = by_kind["Service"]["dbswarm-master"]
    notes = service["metadata"]["annotations"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    container = {p["name"]: p["containerPort"] for p in mc["ports"]}
    config = next(iter(by_kind["ConfigMap"].values()))["data"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/metrics"
    assert int(notes["prometheus.io/port"]) == ports["metrics"]["port"] == container["metrics"]
    assert int(config["DBSWARM_PROMETHEUS_PORT"]) == container["metrics"]


def test_servicemonitor_overlay_matches_the_crd_schema_and_selects_the_master_service():
    by_kind, _master, _mc, _worker = _wiring("prometheus-operator")
    (monitor,) = by_kind["ServiceMonitor"].values()
    validator = _servicemonitor_validator()
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(monitor)]
    assert not errors, errors
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": [{**monitor["spec"]["endpoints"][0], "intervall": "5s"}]}}
    assert not validator.is_valid(broken), "the schema must refuse unknown fields"
    service = by_kind["Service"]["dbswarm-master"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == service["metadata"]["annotations"]["prometheus.io/path"]

