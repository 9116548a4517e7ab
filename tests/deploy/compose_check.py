#!/usr/bin/env python3
"""Checks docker-compose.yml without a Docker engine.

1. `docker-compose config -q` accepts the file (Debian's docker-compose validates without an engine).
2. Every host file and directory it references exists: build contexts and Dockerfiles, bind-mounted volumes,
   configs, secrets, env files; and so do the files those reference inside the containers (Prometheus rule
   files, Grafana dashboards).
3. The services the issue asks for: a KRaft broker from apache/kafka:3.9.1; a one-shot topic creator from the
   same image that the others wait for (service_completed_successfully) and that creates every input topic of the
   topology; sluice with 3 replicas, no container_name or host port, exactly-once, running a topology from
   topologies/ that `sluice validate` accepts; a load generator feeding one of its input topics; Prometheus
   discovering every replica through DNS on the service name and port; Grafana with a provisioned Prometheus
   data source and dashboard.
4. The dashboard JSON parses, has panels for throughput, lag, commit latency, restore, dead letters and late
   records, and every metric it or the alert rules query exists in src/observe/metrics.cpp.

usage: compose_check.py REPO SLUICE
"""
import json
import os
import re
import shlex
import subprocess
import sys

from deploy_common import (Checks, default_http_port, die, import_yaml, metric_names, referenced_metrics,
                           require_binary, require_tool, sluice_validate)

CONTAINER_TOPOLOGIES = "/usr/share/sluice/topologies/"


def host_mounts(service):
    """(host path, container path) of a service's bind mounts, host paths as written (relative to the file)."""
    mounts = []
    for volume in service.get("volumes", []) or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2 and (parts[0].startswith(".") or parts[0].startswith("/") or parts[0].startswith("~")):
                mounts.append((parts[0], parts[1]))
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            mounts.append((volume["source"], volume["target"]))
    return mounts


def to_host(container_path, mounts, base):
    """The host path behind a container path, through the bind mounts; None when it is not mounted."""
    for host, target in sorted(mounts, key=lambda m: -len(m[1])):
        target = target.rstrip("/")
        if container_path == target or container_path.startswith(target + "/"):
            return os.path.normpath(os.path.join(base, host, os.path.relpath(container_path, target)))
    return None


def command_words(service):
    words = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if isinstance(value, str):
            words += shlex.split(value)
        elif isinstance(value, list):
            words += [str(v) for v in value]
    return words


def flag(words, name):
    return words[words.index(name) + 1] if name in words and words.index(name) + 1 < len(words) else None


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def main():
    if len(sys.argv) != 3:
        die(__doc__)
    repo, sluice = sys.argv[1], require_binary(sys.argv[2])
    yaml = import_yaml()
    docker_compose = require_tool("docker-compose", "docker-compose")
    checks = Checks("compose")
    compose_file = os.path.join(repo, "docker-compose.yml")

    result = subprocess.run([docker_compose, "-f", compose_file, "config", "-q"], capture_output=True, text=True,
                            cwd=repo)
    checks.check(result.returncode == 0, f"docker-compose config -q: {result.stderr.strip() or result.stdout.strip()}")

    with open(compose_file, encoding="utf-8") as file:
        compose = yaml.safe_load(file)
    services = compose.get("services", {})

    # Host files and directories.
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            checks.check(os.path.isdir(os.path.join(repo, context)), f"{name}: build context {context} is missing")
            checks.check(os.path.isfile(os.path.join(repo, context, dockerfile)),
                         f"{name}: Dockerfile {os.path.join(context, dockerfile)} is missing")
        for host, _ in host_mounts(service):
            checks.check(os.path.exists(os.path.join(repo, host)), f"{name}: mounted host path {host} is missing")
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            checks.check(os.path.isfile(os.path.join(repo, env_file)), f"{name}: env_file {env_file} is missing")
    for section in ("configs", "secrets"):
        for name, item in (compose.get(section) or {}).items():
            if isinstance(item, dict) and "file" in item:
                checks.check(os.path.exists(os.path.join(repo, item["file"])), f"{section}.{name}: {item['file']} is missing")

    # The broker and the topic creator.
    kafka_name = next((n for n, s in services.items() if s.get("image") == "apache/kafka:3.9.1"
                       and "KAFKA_PROCESS_ROLES" in environment(s)), None)
    if not checks.check(kafka_name, "no broker service from apache/kafka:3.9.1 with KAFKA_PROCESS_ROLES (KRaft)"):
        checks.finish()
    roles = environment(services[kafka_name])["KAFKA_PROCESS_ROLES"]
    checks.check("controller" in roles and "broker" in roles, f"{kafka_name}: KRaft roles are {roles}")
    creators = {n: s for n, s in services.items()
                if s.get("image") == "apache/kafka:3.9.1" and any("kafka-topics.sh" in w for w in command_words(s))}
    if not checks.check(len(creators) == 1, f"expected one topic-creating service (kafka-topics.sh), found {list(creators)}"):
        checks.finish()
    creator_name, creator = next(iter(creators.items()))
    created = set(re.findall(r"--topic[ =](\S+)", " ".join(command_words(creator))))
    checks.check(creator.get("restart", "no") == "no", f"{creator_name}: a one-shot service must not restart")

    # sluice.
    sluice_name = next((n for n, s in services.items() if (command_words(s)[:1] == ["run"])), None)
    if not checks.check(sluice_name, "no service runs `sluice run TOPOLOGY`"):
        checks.finish()
    service = services[sluice_name]
    checks.check((service.get("deploy") or {}).get("replicas") == 3, f"{sluice_name}: deploy.replicas is not 3")
    checks.check("container_name" not in service, f"{sluice_name}: container_name prevents replicas")
    checks.check(not service.get("ports"), f"{sluice_name}: host ports prevent replicas ({service.get('ports')})")
    checks.check("build" in service, f"{sluice_name}: not built from the repository's Dockerfile")
    env = environment(service)
    checks.check(env.get("SLUICE_PROCESSING_GUARANTEE") == "exactly_once",
                 f"{sluice_name}: SLUICE_PROCESSING_GUARANTEE is {env.get('SLUICE_PROCESSING_GUARANTEE')}, not exactly_once")
    checks.check(env.get("SLUICE_BOOTSTRAP_SERVERS", "").split(":")[0] in (kafka_name, services[kafka_name].get("hostname")),
                 f"{sluice_name}: SLUICE_BOOTSTRAP_SERVERS does not point at {kafka_name}")
    http_port = int(env.get("SLUICE_HTTP_PORT", default_http_port(repo)))
    topology_path = command_words(service)[1] if len(command_words(service)) > 1 else ""
    source_topics = set()
    if checks.check(topology_path.startswith(CONTAINER_TOPOLOGIES),
                    f"{sluice_name}: topology {topology_path} is not one the image copies from topologies/"):
        with open(os.path.join(repo, "Dockerfile"), encoding="utf-8") as file:
            checks.check(re.search(r"^COPY topologies/ " + re.escape(CONTAINER_TOPOLOGIES), file.read(), re.MULTILINE),
                         f"the Dockerfile does not copy topologies/ to {CONTAINER_TOPOLOGIES}")
        host_topology = os.path.join(repo, "topologies", topology_path[len(CONTAINER_TOPOLOGIES):])
        if checks.check(os.path.isfile(host_topology), f"{sluice_name}: {host_topology} does not exist"):
            with open(host_topology, encoding="utf-8") as file:
                text = file.read()
            error = sluice_validate(sluice, text, host_topology)
            checks.check(error is None, error)
            source_topics = {source["topic"] for source in json.loads(text).get("sources", [])}
    checks.check(source_topics and source_topics <= created,
                 f"{creator_name} creates {sorted(created)}, not every input topic {sorted(source_topics)}")

    # Everything that uses the topics waits for the one-shot creator to succeed.
    datagen_name = next((n for n, s in services.items() if any("sluice-datagen" in w for w in command_words(s))), None)
    checks.check(datagen_name, "no load generator service running sluice-datagen")
    for name in filter(None, (sluice_name, datagen_name)):
        depends = services[name].get("depends_on") or {}
        condition = depends.get(creator_name, {}).get("condition") if isinstance(depends, dict) else None
        checks.check(condition == "service_completed_successfully",
                     f"{name}: does not depend on {creator_name} with condition service_completed_successfully")
    if datagen_name:
        datagen = services[datagen_name]
        words = command_words(datagen)
        checks.check(datagen.get("image") == service.get("image"), f"{datagen_name}: not the sluice image")
        checks.check(flag(words, "--topic") in source_topics,
                     f"{datagen_name}: writes {flag(words, '--topic')}, not an input topic {sorted(source_topics)}")
        rate = flag(words, "--rate")
        checks.check(rate and rate.isdigit() and 0 < int(rate) <= 10000, f"{datagen_name}: --rate {rate} is not modest")

    # Prometheus: DNS discovery of every replica, rule files mounted.
    metrics = metric_names(repo)
    prometheus_name = next((n for n, s in services.items() if str(s.get("image", "")).startswith("prom/prometheus")), None)
    queried = {}  # metric -> where
    if checks.check(prometheus_name, "no Prometheus service"):
        mounts = host_mounts(services[prometheus_name])
        config_path = to_host("/etc/prometheus/prometheus.yml", mounts, repo)
        if checks.check(config_path and os.path.isfile(config_path),
                        f"{prometheus_name}: /etc/prometheus/prometheus.yml is not mounted from a host file"):
            checks.check(os.path.relpath(config_path, repo).startswith("deploy/prometheus/"),
                         f"{prometheus_name}: configuration {config_path} is not under deploy/prometheus/")
            with open(config_path, encoding="utf-8") as file:
                prometheus = yaml.safe_load(file)
            discovered = [(names, sd.get("port"), sd.get("type", "SRV"))
                          for job in prometheus.get("scrape_configs", [])
                          for sd in job.get("dns_sd_configs", []) for names in [sd.get("names", [])]]
            checks.check(any(sluice_name in names and port == http_port and kind == "A" for names, port, kind in discovered),
                         f"Prometheus does not discover `{sluice_name}` replicas through DNS (type A, port {http_port}): {discovered}")
            for rule_file in prometheus.get("rule_files", []):
                host_rules = to_host(rule_file, mounts, repo)
                if checks.check(host_rules and os.path.isfile(host_rules), f"rule file {rule_file} is not mounted from the host"):
                    with open(host_rules, encoding="utf-8") as file:
                        rules = yaml.safe_load(file)
                    for group in rules.get("groups", []):
                        for rule in group.get("rules", []):
                            for metric in referenced_metrics(str(rule.get("expr", ""))):
                                queried.setdefault(metric, f"alert rule {rule.get('alert') or rule.get('record')}")

    # Grafana: provisioned data source and dashboards.
    grafana_name = next((n for n, s in services.items() if str(s.get("image", "")).startswith("grafana/grafana")), None)
    dashboards = []
    if checks.check(grafana_name, "no Grafana service"):
        mounts = host_mounts(services[grafana_name])
        provisioning = to_host("/etc/grafana/provisioning", mounts, repo)
        if checks.check(provisioning and os.path.isdir(provisioning), "Grafana provisioning directory is not mounted"):
            checks.check(os.path.relpath(provisioning, repo).startswith("deploy/grafana"),
                         f"Grafana provisioning {provisioning} is not under deploy/grafana/")
            sources = []
            for entry in sorted(os.listdir(os.path.join(provisioning, "datasources"))):
                with open(os.path.join(provisioning, "datasources", entry), encoding="utf-8") as file:
                    sources += yaml.safe_load(file).get("datasources", [])
            checks.check(any(s.get("type") == "prometheus" and prometheus_name and f"//{prometheus_name}:" in s.get("url", "")
                             for s in sources), f"no provisioned Prometheus data source pointing at {prometheus_name}")
            for entry in sorted(os.listdir(os.path.join(provisioning, "dashboards"))):
                with open(os.path.join(provisioning, "dashboards", entry), encoding="utf-8") as file:
                    for provider in yaml.safe_load(file).get("providers", []):
                        path = (provider.get("options") or {}).get("path", "")
                        host_dir = to_host(path, mounts, repo)
                        if checks.check(host_dir and os.path.isdir(host_dir), f"dashboard path {path} is not mounted"):
                            dashboards += [os.path.join(host_dir, f) for f in sorted(os.listdir(host_dir))
                                           if f.endswith(".json")]
    checks.check(dashboards, "no dashboard JSON is provisioned")
    expressions = []
    for path in dashboards:
        try:
            with open(path, encoding="utf-8") as file:
                dashboard = json.load(file)
        except json.JSONDecodeError as error:
            checks.fail(f"{path}: not JSON: {error}")
            continue
        panels = list(dashboard.get("panels", []))
        for panel in list(panels):
            panels += panel.get("panels", [])  # collapsed rows
        for panel in panels:
            for target in panel.get("targets", []):
                expression = target.get("expr", "")
                expressions.append(expression)
                for metric in referenced_metrics(expression):
                    queried.setdefault(metric, f"{os.path.basename(path)} panel \"{panel.get('title')}\"")
    for metric, where in sorted(queried.items()):
        checks.check(metric in metrics, f"{where} queries {metric}, which src/observe/metrics.cpp does not export")
    required = {
        "records consumed rate": r"rate\(sluice_records_consumed_total",
        "records produced rate": r"rate\(sluice_records_produced_total",
        "consumer lag": r"sluice_consumer_lag_records",
        "commit latency": r"sluice_commit_latency_seconds_bucket",
        "restore progress": r"sluice_restore_remaining_records",
        "dead-lettered records": r"sluice_records_dead_lettered_total",
        "late records": r'sluice_records_dead_lettered_total\{[^}]*reason="late"',
    }
    for what, pattern in required.items():
        checks.check(any(re.search(pattern, e) for e in expressions), f"no dashboard panel shows {what} ({pattern})")
    print(f"compose: {len(queried)} metric names queried by dashboards and alerts")
    checks.finish()


if __name__ == "__main__":
    main()
