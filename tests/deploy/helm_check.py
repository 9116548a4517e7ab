#!/usr/bin/env python3
"""Checks the Helm chart in helm/sluice without a cluster: `helm lint`, and `helm template` rendered with the
default values and with a non-default values file, asserted object by object against the values they came from.

usage: helm_check.py lint|default|custom|errors REPO SLUICE [VALUES_FILE]
  lint     helm lint, with the default values and with VALUES_FILE
  default  render with the chart's values.yaml and assert the objects
  custom   render with VALUES_FILE (and, as a variant, persistence off) and assert the objects
  errors   values that cannot work must make the render fail with a message naming them
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

from deploy_common import (Checks, die, find_helm, import_yaml, parse_duration_seconds, require_binary,
                           sluice_settings, sluice_validate)

RELEASE = "rel"
NAMESPACE = "streams"

yaml = import_yaml()


def helm(helm_binary, *arguments):
    return subprocess.run([helm_binary, *arguments], capture_output=True, text=True, timeout=120)


def merge(base, override):
    """Helm's values merge: maps merge key by key, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def render(helm_binary, chart, checks, label, *arguments):
    result = helm(helm_binary, "template", RELEASE, chart, "--namespace", NAMESPACE, *arguments)
    if not checks.check(result.returncode == 0, f"{label}: helm template failed: {result.stderr.strip()}"):
        return None
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    return objects


def notes(helm_binary, chart, arguments):
    """NOTES.txt rendered: helm renders it only on install, which needs a cluster, so a copy of the chart carries
    it as a YAML block that `helm template --show-only` prints."""
    with tempfile.TemporaryDirectory() as directory:
        copied = os.path.join(directory, "sluice")
        shutil.copytree(chart, copied)
        with open(os.path.join(copied, "templates", "NOTES.txt"), encoding="utf-8") as file:
            text = file.read()
        os.unlink(os.path.join(copied, "templates", "NOTES.txt"))
        with open(os.path.join(copied, "templates", "notes-as-yaml.yaml"), "w", encoding="utf-8") as file:
            file.write("notes: |\n" + "".join("  " + line for line in text.splitlines(keepends=True)))
        result = helm(helm_binary, "template", RELEASE, copied, "--namespace", NAMESPACE,
                      "--show-only", "templates/notes-as-yaml.yaml", *arguments)
        if result.returncode != 0:
            return None, result.stderr.strip()
        return yaml.safe_load(result.stdout)["notes"], None


def by_kind(objects):
    kinds = {}
    for item in objects:
        kinds.setdefault(item["kind"], []).append(item)
    return kinds


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def assert_release(objects, values, checks, sluice, label):
    """Every assertion that follows from the values the objects were rendered from."""
    kinds = by_kind(objects)
    expected = {"StatefulSet", "Service", "ConfigMap"}
    if values["podDisruptionBudget"]["enabled"]:
        expected.add("PodDisruptionBudget")
    if values["serviceMonitor"]["enabled"]:
        expected.add("ServiceMonitor")
    if values["serviceAccount"]["create"]:
        expected.add("ServiceAccount")
    checks.check(set(kinds) == expected, f"{label}: kinds {sorted(kinds)}, expected {sorted(expected)}")
    for kind in ("StatefulSet", "Service", "ConfigMap"):
        if not checks.check(len(kinds.get(kind, [])) == 1, f"{label}: expected one {kind}"):
            return
    statefulset, service, configmap = kinds["StatefulSet"][0], kinds["Service"][0], kinds["ConfigMap"][0]
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    containers = pod["containers"]
    if not checks.check(len(containers) == 1, f"{label}: expected one container"):
        return
    container = containers[0]

    # Configuration: the topology and settings files in the ConfigMap, mounted where the arguments point.
    topology_text = configmap["data"]["topology.json"]
    settings_text = configmap["data"]["settings.json"]
    wanted_topology = json.loads(values["topologyJson"]) if values.get("topologyJson") else values["topology"]
    checks.check(json.loads(topology_text) == wanted_topology, f"{label}: ConfigMap topology.json differs from the values")
    error = sluice_validate(sluice, topology_text, f"{label}: ConfigMap topology.json")
    checks.check(error is None, error)
    settings = json.loads(settings_text)
    error = sluice_settings(sluice, settings_text, f"{label}: ConfigMap settings.json")
    checks.check(error is None, error)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    args = container.get("args", [])
    if checks.check(len(args) == 4 and args[0] == "run" and args[2] == "--config", f"{label}: args {args}"):
        for path, key in ((args[1], "topology.json"), (args[3], "settings.json")):
            mount = mounts.get(path)
            volume = volumes.get(mount["name"]) if mount else None
            checks.check(mount and mount.get("subPath") == key and volume and
                         volume.get("configMap", {}).get("name") == configmap["metadata"]["name"],
                         f"{label}: {path} is not the ConfigMap's {key}")

    # Settings derived from values.
    checks.check(settings.get("bootstrap_servers") == values["kafka"]["bootstrapServers"], f"{label}: bootstrap_servers")
    checks.check(settings.get("state_memory_mb") == values["memory"]["stateMemoryMb"],
                 f"{label}: state_memory_mb {settings.get('state_memory_mb')} != memory.stateMemoryMb")
    checks.check(settings.get("session_timeout") == values["sessionTimeout"], f"{label}: session_timeout")
    for key, value in values["settings"].items():
        checks.check(settings.get(key) == value, f"{label}: settings.{key} is {settings.get(key)!r}, not {value!r}")
    for key, value in values["kafka"]["properties"].items():
        checks.check(settings.get("kafka." + key) == value, f"{label}: kafka.{key} not passed through")
    checks.check(settings.get("kafka.security.protocol") == values["kafka"]["securityProtocol"], f"{label}: security.protocol")
    checks.check(not any(part in key for key in settings for part in ("password", "username", "token", "secret", "jaas")),
                 f"{label}: credentials in the ConfigMap: {sorted(settings)}")

    # Identity, image, environment.
    checks.check(spec["replicas"] == values["replicaCount"], f"{label}: replicas {spec['replicas']}")
    checks.check(spec["serviceName"] == service["metadata"]["name"], f"{label}: serviceName is not the headless Service")
    checks.check(container["image"] == f"{values['image']['repository']}:{values['image']['tag'] or '0.1.0'}",
                 f"{label}: image {container['image']}")
    env = {e["name"]: e for e in container.get("env", [])}
    checks.check(env.get("SLUICE_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
                 f"{label}: SLUICE_INSTANCE_ID does not come from the pod name")
    checks.check(env.get("SLUICE_PROCESSING_THREADS", {}).get("value") == str(values["processingThreads"]),
                 f"{label}: SLUICE_PROCESSING_THREADS is not {values['processingThreads']}")
    sasl = values["kafka"]["sasl"]
    for variable, key in (("SLUICE_KAFKA_SASL_USERNAME", "usernameKey"), ("SLUICE_KAFKA_SASL_PASSWORD", "passwordKey")):
        reference = env.get(variable, {}).get("valueFrom", {}).get("secretKeyRef")
        if sasl["existingSecret"]:
            checks.check(reference == {"name": sasl["existingSecret"], "key": sasl[key]},
                         f"{label}: {variable} is not secretKeyRef {sasl['existingSecret']}/{sasl[key]}: {reference}")
        else:
            checks.check(variable not in env, f"{label}: {variable} set without kafka.sasl.existingSecret")
    if sasl["existingSecret"]:
        checks.check(settings.get("kafka.sasl.mechanism") == sasl["mechanism"], f"{label}: kafka.sasl.mechanism")
    ssl = values["kafka"]["ssl"]
    if ssl["existingSecret"]:
        secret_volumes = [name for name, v in volumes.items() if v.get("secret", {}).get("secretName") == ssl["existingSecret"]]
        tls_mounts = [m for m in mounts.values() if m["name"] in secret_volumes]
        if checks.check(len(tls_mounts) == 1 and tls_mounts[0].get("readOnly"), f"{label}: SSL Secret not mounted read-only once"):
            checks.check(settings.get("kafka.ssl.ca.location") == f"{tls_mounts[0]['mountPath']}/{ssl['caKey']}",
                         f"{label}: kafka.ssl.ca.location {settings.get('kafka.ssl.ca.location')} is not the mounted {ssl['caKey']}")
    else:
        checks.check(not any(k.startswith("kafka.ssl.") for k in settings), f"{label}: kafka.ssl.* without a Secret")

    # HTTP port, probes, Service.
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    checks.check(ports.get("http") == values["service"]["port"] == settings.get("http_port"),
                 f"{label}: container port {ports.get('http')}, service.port, http_port {settings.get('http_port')} differ")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port")) if isinstance(get.get("port"), str) else get.get("port")
        checks.check(get.get("path") == path and port == settings.get("http_port"),
                     f"{label}: {probe} is not GET {path} on the HTTP port: {get}")
    checks.check(service["spec"].get("clusterIP") == "None", f"{label}: Service is not headless")
    checks.check(any(p.get("name") == "http" and p.get("port") == values["service"]["port"] for p in service["spec"]["ports"]),
                 f"{label}: Service has no http port {values['service']['port']}")
    checks.check(selects(service["spec"]["selector"], pod_labels), f"{label}: Service does not select the pods")
    checks.check(selects(spec["selector"]["matchLabels"], pod_labels), f"{label}: StatefulSet selector misses its pods")

    # HTTP protection: the bearer token from a Secret (never the ConfigMap), HTTPS from a TLS Secret.
    http = values["http"]
    token = env.get("SLUICE_HTTP_BEARER_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef")
    if http["auth"]["existingSecret"]:
        checks.check(token == {"name": http["auth"]["existingSecret"], "key": http["auth"]["tokenKey"]},
                     f"{label}: SLUICE_HTTP_BEARER_TOKEN is not secretKeyRef {http['auth']['existingSecret']}: {token}")
    else:
        checks.check("SLUICE_HTTP_BEARER_TOKEN" not in env, f"{label}: a bearer token without http.auth.existingSecret")
    scheme = "HTTPS" if http["tls"]["existingSecret"] else "HTTP"
    for probe in ("livenessProbe", "readinessProbe"):
        given = container.get(probe, {}).get("httpGet", {}).get("scheme", "HTTP")
        checks.check(given == scheme, f"{label}: {probe} scheme {given}, expected {scheme}")
    if http["tls"]["existingSecret"]:
        tls_volumes = [n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == http["tls"]["existingSecret"]]
        tls_mounts = [m for m in mounts.values() if m["name"] in tls_volumes]
        if checks.check(len(tls_mounts) == 1 and tls_mounts[0].get("readOnly"), f"{label}: HTTP TLS Secret not mounted read-only once"):
            for setting, key in (("http_tls_cert_file", "tls.crt"), ("http_tls_key_file", "tls.key")):
                checks.check(settings.get(setting) == f"{tls_mounts[0]['mountPath']}/{key}",
                             f"{label}: {setting} {settings.get(setting)} is not the mounted {key}")
    else:
        checks.check(not any(k.startswith("http_tls_") for k in settings), f"{label}: http_tls_* without a Secret")

    # State volume.
    state_dir = settings.get("state_dir")
    state_mount = mounts.get(state_dir)
    checks.check(state_dir == values["persistence"]["mountPath"] and state_mount,
                 f"{label}: state_dir {state_dir} is not mounted")
    claims = spec.get("volumeClaimTemplates", [])
    if values["persistence"]["enabled"]:
        claim = next((c for c in claims if state_mount and c["metadata"]["name"] == state_mount["name"]), None)
        if checks.check(claim, f"{label}: no PersistentVolumeClaim template for the state directory"):
            claim_spec = claim["spec"]
            checks.check(claim_spec["resources"]["requests"]["storage"] == values["persistence"]["size"], f"{label}: PVC size")
            checks.check(claim_spec.get("accessModes") == values["persistence"]["accessModes"], f"{label}: PVC access modes")
            checks.check(claim_spec.get("storageClassName") == (values["persistence"]["storageClassName"] or None),
                         f"{label}: PVC storageClassName {claim_spec.get('storageClassName')}")
            checks.check(state_mount["name"] not in volumes, f"{label}: state is both a pod volume and a claim")
    else:
        checks.check(not claims, f"{label}: PVC template although persistence is off")
        checks.check(state_mount and "emptyDir" in volumes.get(state_mount["name"], {}),
                     f"{label}: without persistence the state directory is not an emptyDir")

    # Resources: memory from the memory values.
    memory_mb = (values["memory"]["stateMemoryMb"] + values["memory"]["overheadMb"]
                 + values["processingThreads"] * values["memory"]["perThreadOverheadMb"])
    resources = container.get("resources", {})
    checks.check(resources.get("limits", {}).get("memory") == f"{memory_mb}Mi",
                 f"{label}: memory limit {resources.get('limits', {}).get('memory')}, expected {memory_mb}Mi")
    checks.check(resources.get("requests", {}).get("memory") == f"{memory_mb}Mi", f"{label}: memory request")
    checks.check(memory_mb > settings["state_memory_mb"], f"{label}: memory limit not above state_memory_mb")
    checks.check(resources.get("requests", {}).get("cpu") == values["cpu"]["request"], f"{label}: cpu request")

    # Shutdown, security.
    shutdown = parse_duration_seconds(settings.get("shutdown_timeout", "30s"))
    checks.check(pod.get("terminationGracePeriodSeconds", 30) > shutdown,
                 f"{label}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds')} <= shutdown_timeout {shutdown}s")
    pod_security = pod.get("securityContext", {})
    checks.check(pod_security.get("runAsNonRoot") is True and pod_security.get("runAsUser", 0) != 0,
                 f"{label}: pod securityContext does not run as non-root: {pod_security}")
    security = container.get("securityContext", {})
    checks.check(security.get("readOnlyRootFilesystem") is True, f"{label}: root filesystem is writable")
    checks.check(security.get("allowPrivilegeEscalation") is False, f"{label}: privilege escalation allowed")
    checks.check("ALL" in security.get("capabilities", {}).get("drop", []), f"{label}: capabilities not dropped")
    tmp = mounts.get("/tmp")
    checks.check(tmp and "emptyDir" in volumes.get(tmp["name"], {}), f"{label}: no writable /tmp with a read-only root")
    checks.check(pod.get("automountServiceAccountToken") is False, f"{label}: service account token mounted")

    # Disruption budget and monitoring.
    if values["podDisruptionBudget"]["enabled"]:
        budget = kinds["PodDisruptionBudget"][0]["spec"]
        checks.check(budget.get("maxUnavailable") == values["podDisruptionBudget"]["maxUnavailable"], f"{label}: PDB maxUnavailable")
        checks.check(selects(budget["selector"]["matchLabels"], pod_labels), f"{label}: PDB does not select the pods")
    if values["serviceMonitor"]["enabled"]:
        monitor = kinds["ServiceMonitor"][0]
        endpoints = monitor["spec"]["endpoints"]
        checks.check(any(e.get("port") == "http" and e.get("path") == "/metrics" for e in endpoints),
                     f"{label}: ServiceMonitor does not scrape http /metrics")
        endpoint = endpoints[0]
        checks.check(endpoint.get("scheme") == scheme.lower(), f"{label}: ServiceMonitor scheme {endpoint.get('scheme')}")
        if http["auth"]["existingSecret"]:
            checks.check(endpoint.get("authorization") == {"type": "Bearer", "credentials": {
                "name": http["auth"]["existingSecret"], "key": http["auth"]["tokenKey"]}},
                f"{label}: ServiceMonitor does not send the bearer token: {endpoint.get('authorization')}")
        checks.check(("tlsConfig" in endpoint) == bool(http["tls"]["existingSecret"]),
                     f"{label}: ServiceMonitor tlsConfig {endpoint.get('tlsConfig')} does not follow http.tls")
        checks.check(selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]),
                     f"{label}: ServiceMonitor does not select the Service")
        checks.check(selects(values["serviceMonitor"]["labels"], monitor["metadata"]["labels"]) or not values["serviceMonitor"]["labels"],
                     f"{label}: ServiceMonitor lacks the labels from serviceMonitor.labels")
    return memory_mb


def main():
    if len(sys.argv) < 4:
        die(__doc__)
    mode, repo, sluice = sys.argv[1], sys.argv[2], require_binary(sys.argv[3])
    values_file = sys.argv[4] if len(sys.argv) > 4 else None
    helm_binary = find_helm(repo)
    chart = os.path.join(repo, "helm", "sluice")
    checks = Checks(f"helm {mode}")
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as file:
        defaults = yaml.safe_load(file)

    if mode == "lint":
        for label, arguments in (("default values", []), ("values file", ["--values", values_file])):
            result = helm(helm_binary, "lint", "--strict", chart, *arguments)
            checks.check(result.returncode == 0, f"helm lint ({label}): {result.stdout.strip()} {result.stderr.strip()}")
        for required in ("Chart.yaml", "values.yaml", "README.md", "templates/NOTES.txt"):
            checks.check(os.path.isfile(os.path.join(chart, required)), f"helm/sluice/{required} is missing")
    elif mode == "default":
        objects = render(helm_binary, chart, checks, "default")
        if objects is not None:
            memory_mb = assert_release(objects, defaults, checks, sluice, "default")
            kinds = by_kind(objects)
            checks.check("ServiceMonitor" not in kinds, "default: ServiceMonitor rendered although off by default")
            text, error = notes(helm_binary, chart, [])
            if checks.check(text, f"default: NOTES.txt does not render: {error}"):
                checks.check(f"{RELEASE}-sluice-0" in text and f"{memory_mb}Mi" in text and "word-count" in text,
                             f"default: NOTES.txt lacks the pod name, memory limit or application id:\n{text}")
    elif mode == "custom":
        with open(values_file, encoding="utf-8") as file:
            override = yaml.safe_load(file)
        values = merge(defaults, override)
        checks.check(values != defaults, "custom: the values file changes nothing")
        objects = render(helm_binary, chart, checks, "custom", "--values", values_file)
        if objects is not None:
            memory_mb = assert_release(objects, values, checks, sluice, "custom")
            text, error = notes(helm_binary, chart, ["--values", values_file])
            if checks.check(text, f"custom: NOTES.txt does not render: {error}"):
                application = json.loads(values["topologyJson"])["application_id"] if values["topologyJson"] else ""
                checks.check(f"{memory_mb}Mi" in text and application in text and "ServiceMonitor" in text,
                             f"custom: NOTES.txt does not follow the values:\n{text}")
        variant = merge(values, {"persistence": {"enabled": False}})
        objects = render(helm_binary, chart, checks, "custom, persistence off", "--values", values_file,
                         "--set", "persistence.enabled=false")
        if objects is not None:
            assert_release(objects, variant, checks, sluice, "custom, persistence off")
    elif mode == "errors":
        cases = [
            ({"kafka": {"sasl": {"existingSecret": "credentials"}}}, "kafka.sasl.existingSecret"),
            ({"kafka": {"ssl": {"existingSecret": "ca"}, "securityProtocol": "SASL_PLAINTEXT"}}, "kafka.ssl.existingSecret"),
            ({"kafka": {"securityProtocol": "TLS"}}, "kafka.securityProtocol"),
            ({"settings": {"state_dir": "/data"}}, "settings.state_dir"),
            ({"topologyJson": "{not json"}, "topologyJson"),
            ({"memory": {"stateMemoryMb": 8}}, "memory.stateMemoryMb"),
            # Secrets never go into the ConfigMap (issue 11, finding 6).
            ({"kafka": {"properties": {"sasl.password": "hunter2"}}}, "kafka.properties.sasl.password"),
            ({"kafka": {"properties": {"sasl.jaas.config": "x password=y;"}}}, "kafka.properties.sasl.jaas.config"),
            ({"kafka": {"properties": {"SSL.Key.Password": "k"}}}, "kafka.properties.SSL.Key.Password"),
            ({"settings": {"http_bearer_token": "t"}}, "settings.http_bearer_token"),
            ({"settings": {"http_basic_auth": "u:p"}}, "settings.http_basic_auth"),
        ]
        for override, named in cases:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
                yaml.safe_dump(override, file)
                file.flush()
                result = helm(helm_binary, "template", RELEASE, chart, "--values", file.name)
            checks.check(result.returncode != 0 and named in result.stderr,
                         f"errors: {override} rendered (exit {result.returncode}) or the error does not name "
                         f"{named}: {result.stderr.strip()[:300]}")
    else:
        die(f"unknown mode {mode}\n{__doc__}")
    checks.finish()


if __name__ == "__main__":
    main()
