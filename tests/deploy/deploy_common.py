"""Helpers shared by the deployment checks: failing with a clear message, tools, metric names, sluice."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

INSTALL_HINT = "run scripts/install-deps"


class Checks:
    """Collects failed assertions so one run reports every problem, then exits non-zero if there was any."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.passed = 0

    def check(self, condition, message):
        if condition:
            self.passed += 1
        else:
            self.failures.append(message)
        return bool(condition)

    def fail(self, message):
        self.failures.append(message)

    def finish(self):
        for failure in self.failures:
            print(f"{self.name}: FAIL: {failure}", file=sys.stderr)
        if self.failures:
            print(f"{self.name}: {len(self.failures)} failed, {self.passed} passed", file=sys.stderr)
            sys.exit(1)
        print(f"{self.name}: all {self.passed} checks passed")
        sys.exit(0)


def die(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def import_yaml():
    try:
        import yaml  # noqa: PLC0415 (Debian's python3-yaml)
    except ImportError:
        die(f"the Python module yaml is missing ({sys.executable}); {INSTALL_HINT} (installs python3-yaml)")
    return yaml


def require_tool(name, hint_package):
    path = shutil.which(name)
    if not path:
        die(f"{name} not found on PATH; {INSTALL_HINT} (installs {hint_package})")
    return path


def find_helm(repo):
    """The helm scripts/install-deps builds (its directory is read from the script), else one on PATH."""
    with open(os.path.join(repo, "scripts", "install-deps"), encoding="utf-8") as script:
        text = script.read()
    version = re.search(r"^helm_version=(\S+)", text, re.MULTILINE)
    kube = re.search(r"^helm_kube_version=(\S+)", text, re.MULTILINE)
    if not version or not kube:
        die("scripts/install-deps does not set helm_version=... and helm_kube_version=...")
    cache = os.environ.get("SLUICE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sluice")
    cached = os.path.join(cache, f"helm-{version.group(1)}-kube{kube.group(1)}", "bin", "helm")
    if os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    die(f"helm not found (looked for {cached} and on PATH); {INSTALL_HINT} (builds helm {version.group(1)})")
    return None


def metric_names(repo):
    """Every series name sluice exports, from src/observe/metrics.cpp: the registered names, plus _bucket, _sum
    and _count for histograms. A metric renamed there no longer matches what dashboards and alerts query."""
    with open(os.path.join(repo, "src", "observe", "metrics.cpp"), encoding="utf-8") as source:
        text = source.read()
    names = set(re.findall(r'"(sluice_[a-z0-9_]+)"', text))
    histograms = set(re.findall(r'BuildHistogram\(\)\s*\.Name\("(sluice_[a-z0-9_]+)"\)', text))
    if not names or not histograms:
        die("found no metric names (or no histograms) in src/observe/metrics.cpp; has the registration changed?")
    series = set(names)
    for histogram in histograms:
        series.update({histogram + "_bucket", histogram + "_sum", histogram + "_count"})
    return series


def referenced_metrics(expression):
    """sluice_* series names in a PromQL expression (label values in quotes are not names)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    return set(re.findall(r"\bsluice_[a-zA-Z0-9_]+", without_strings))


def require_binary(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        die(f"{path} does not exist; build it first (cmake --build <build dir> --target sluice sluice-datagen)")
    return path


def sluice_validate(sluice, topology_text, label):
    """Runs `sluice validate` on a topology document; returns an error message or None."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(topology_text)
        path = file.name
    try:
        result = subprocess.run([sluice, "validate", path], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    if result.returncode != 0:
        return f"{label}: sluice validate exit {result.returncode}: {result.stderr.strip()}"
    return None


def sluice_settings(sluice, settings_text, label):
    """Runs `sluice settings --config` on a settings JSON document; returns an error message or None."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(settings_text)
        path = file.name
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    try:
        result = subprocess.run([sluice, "settings", "--config", path], capture_output=True, text=True, timeout=60,
                                env=environment)
    finally:
        os.unlink(path)
    if result.returncode != 0:
        return f"{label}: sluice settings --config exit {result.returncode}: {result.stderr.strip()}"
    return None


def default_http_port(repo):
    """http_port's default, from the settings reference generated from src/app/settings.cpp."""
    with open(os.path.join(repo, "docs", "settings.md"), encoding="utf-8") as file:
        match = re.search(r"^\| `http_port` \| integer \| `(\d+)`", file.read(), re.MULTILINE)
    if not match:
        die("docs/settings.md has no http_port row")
    return int(match.group(1))


def parse_duration_seconds(text):
    """sluice durations: integer and unit parts, e.g. 30s, 1m30s, 250ms."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError(f"{text!r} is not a duration")
    return sum(int(n) * units[u] for n, u in parts)


def load_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)
