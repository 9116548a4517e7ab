#!/usr/bin/env python3
"""Checks the Dockerfile without a Docker engine.

Main check: every shared library `ldd` lists for the built sluice and sluice-datagen comes, by `dpkg -S`, from a
Debian package the runtime stage installs (or from the short list of packages every Debian image has, below). So
an image built from the Dockerfile can start: removing a package from its list, or linking a new library without
adding its package, fails this test. It also checks the requirements of the image: bookworm build and
bookworm-slim runtime stages, the build through scripts/install-deps --build-only and CMake, both binaries and
the topologies copied, a non-root user, the state directory as a VOLUME and SLUICE_STATE_DIR, the HTTP port
exposed, a HEALTHCHECK on /healthz, and a .dockerignore that keeps the sources in the build context.

usage: dockerfile_check.py REPO SLUICE SLUICE_DATAGEN
"""
import fnmatch
import os
import re
import shlex
import subprocess
import sys

from deploy_common import Checks, default_http_port, die, require_binary

# Packages every debian:bookworm-slim image contains (Priority: required, pulled in by the essential set), so a
# library from them needs no entry in the Dockerfile. The Dockerfile names them anyway; everything else must be
# listed there explicitly.
BOOKWORM_SLIM_BASE = {"libc6", "libgcc-s1"}


def instructions(path):
    """(INSTRUCTION, arguments) pairs: comment lines dropped, continuation lines joined."""
    result = []
    current = ""
    with open(path, encoding="utf-8") as file:
        for raw in file:
            line = raw.rstrip("\n")
            if line.strip().startswith("#"):
                continue
            if line.rstrip().endswith("\\"):
                current += line.rstrip()[:-1] + " "
                continue
            current += line
            if current.strip():
                keyword, _, rest = current.strip().partition(" ")
                result.append((keyword.upper(), rest.strip()))
            current = ""
    if current.strip():
        keyword, _, rest = current.strip().partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def substitute(text, variables):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)


def stages(parsed):
    """Global ARG defaults and the stages: dicts with image, name and their instructions."""
    global_args = {}
    result = []
    for keyword, rest in parsed:
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"image": substitute(words[0], global_args), "name": name, "instructions": []})
        elif not result:
            if keyword == "ARG" and "=" in rest:
                key, _, value = rest.partition("=")
                global_args[key.strip()] = value.strip().strip('"')
        else:
            result[-1]["instructions"].append((keyword, rest))
    return result


def apt_packages(run_commands):
    """Packages named by `apt-get install` (or `apt install`) in the given RUN commands."""
    packages = []
    for command in run_commands:
        for segment in re.split(r"&&|\|\||;", command):
            words = shlex.split(segment)
            for i, word in enumerate(words):
                if word in ("apt-get", "apt") and "install" in words[i + 1:]:
                    after = words[words.index("install", i) + 1:]
                    packages += [w for w in after if not w.startswith("-")]
                    break
    return packages


def ldd_libraries(binary, checks):
    result = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if result.returncode != 0:
        die(f"ldd {binary} failed: {result.stderr.strip()}")
    libraries = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            checks.fail(f"{binary}: {line} (the build machine lacks a library)")
        elif "=>" in line:
            target = line.split("=>", 1)[1].split("(")[0].strip()
            if target:
                libraries.append(target)
        elif line.startswith("/"):
            libraries.append(line.split("(")[0].strip())
        # linux-vdso.so.1 is provided by the kernel.
    return libraries


def owning_package(path):
    """The Debian package holding a file, trying the /lib <-> /usr/lib (merged-/usr) spellings and the real path."""
    candidates = [path]
    candidates.append(path[len("/usr"):] if path.startswith("/usr/") else "/usr" + path)
    real = os.path.realpath(path)
    candidates += [real, real[len("/usr"):] if real.startswith("/usr/") else "/usr" + real]
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            first = result.stdout.splitlines()[0]
            owners = first.rsplit(": ", 1)[0]
            return [owner.strip().split(":")[0] for owner in owners.split(",")]
    return None


def dockerignore_excludes(repo, source):
    """Whether .dockerignore keeps `source` (a path relative to the build context) out of the context."""
    path = os.path.join(repo, ".dockerignore")
    if not os.path.exists(path):
        return False
    excluded = False
    source = source.rstrip("/")
    with open(path, encoding="utf-8") as file:
        for line in file:
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").strip("/")
            parts = source.split("/")
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
            if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
                excluded = not negate
    return excluded


def main():
    if len(sys.argv) != 4:
        die(__doc__)
    repo, sluice, datagen = sys.argv[1], require_binary(sys.argv[2]), require_binary(sys.argv[3])
    checks = Checks("dockerfile")
    with open("/etc/os-release", encoding="utf-8") as file:
        if "VERSION_CODENAME=bookworm" not in file.read():
            die("this check maps libraries to Debian bookworm packages and must run on bookworm, like the image")

    parsed = instructions(os.path.join(repo, "Dockerfile"))
    all_stages = stages(parsed)
    if len(all_stages) < 2:
        die(f"expected a multi-stage Dockerfile, found {len(all_stages)} stage(s)")
    build, runtime = all_stages[0], all_stages[-1]
    checks.check(build["image"] == "debian:bookworm", f"build stage image is {build['image']}, not debian:bookworm")
    checks.check(runtime["image"] == "debian:bookworm-slim",
                 f"runtime stage image is {runtime['image']}, not debian:bookworm-slim")

    build_runs = [rest for keyword, rest in build["instructions"] if keyword == "RUN"]
    checks.check(any(re.search(r"scripts/install-deps\s+--build-only", run) for run in build_runs),
                 "build stage does not run scripts/install-deps --build-only")
    checks.check(any("cmake -S" in run for run in build_runs) and
                 any(re.search(r"cmake --build .*--target.*sluice.*sluice-datagen", run) for run in build_runs),
                 "build stage does not configure with cmake and build the sluice and sluice-datagen targets")

    runtime_items = runtime["instructions"]
    run_commands = [rest for keyword, rest in runtime_items if keyword == "RUN"]
    packages = set(apt_packages(run_commands))
    checks.check(packages, "the runtime stage installs no packages (no apt-get install found)")
    for package in sorted(packages):
        # apt-cache knows installed packages and those in the package lists: a misspelt name fails the image build.
        known = subprocess.run(["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True)
        checks.check(known.returncode == 0 and known.stdout.strip(), f"runtime package {package} is not a bookworm package")

    # The libraries the binaries load, and the packages they come from.
    needed = {}
    for binary in (sluice, datagen):
        libraries = ldd_libraries(binary, checks)
        checks.check(len(libraries) >= 3, f"ldd {binary} listed only {libraries}; is it the real binary?")
        for library in libraries:
            owners = owning_package(library)
            if owners is None:
                checks.fail(f"{library} (needed by {os.path.basename(binary)}) belongs to no Debian package: "
                            f"the image could not provide it")
                continue
            needed.setdefault(library, (owners, os.path.basename(binary)))
    for library, (owners, binary) in sorted(needed.items()):
        available = packages | BOOKWORM_SLIM_BASE
        checks.check(any(owner in available for owner in owners),
                     f"{library} (needed by {binary}) comes from {', '.join(owners)}, which the runtime stage of the "
                     f"Dockerfile does not install")
    print(f"dockerfile: runtime packages: {' '.join(sorted(packages))}")
    print(f"dockerfile: libraries checked: {len(needed)}")

    # The rest of the image's requirements.
    copies = [rest for keyword, rest in runtime_items if keyword == "COPY"]
    copied_from_build = " ".join(c for c in copies if "--from=build" in c)
    checks.check("sluice" in copied_from_build.split("/") or re.search(r"/sluice\b", copied_from_build),
                 "runtime stage does not copy the sluice binary from the build stage")
    checks.check("sluice-datagen" in copied_from_build, "runtime stage does not copy sluice-datagen")
    checks.check(any(c.split()[0].rstrip("/") == "topologies" for c in copies if not c.startswith("--")),
                 "runtime stage does not copy topologies/")
    users = [rest for keyword, rest in runtime_items if keyword == "USER"]
    checks.check(users and users[-1].split(":")[0] not in ("root", "0"), f"runtime stage runs as root ({users})")
    environment = {}
    for keyword, rest in runtime_items:
        if keyword == "ENV":
            for word in shlex.split(rest):
                if "=" in word:
                    key, _, value = word.partition("=")
                    environment[key] = value
    state_dir = environment.get("SLUICE_STATE_DIR")
    checks.check(state_dir, "runtime stage does not set SLUICE_STATE_DIR")
    volumes = " ".join(rest for keyword, rest in runtime_items if keyword == "VOLUME")
    checks.check(state_dir and state_dir in volumes, f"SLUICE_STATE_DIR ({state_dir}) is not a VOLUME ({volumes})")
    port = environment.get("SLUICE_HTTP_PORT") or str(default_http_port(repo))
    exposed = " ".join(rest for keyword, rest in runtime_items if keyword == "EXPOSE").split()
    checks.check(port and port in [e.split("/")[0] for e in exposed], f"HTTP port {port} is not EXPOSEd ({exposed})")
    healthchecks = [rest for keyword, rest in runtime_items if keyword == "HEALTHCHECK"]
    checks.check(healthchecks and "/healthz" in healthchecks[-1], "runtime stage has no HEALTHCHECK on /healthz")

    # Everything the Dockerfile copies from the build context exists and is not excluded by .dockerignore.
    for stage in all_stages:
        for keyword, rest in stage["instructions"]:
            if keyword not in ("COPY", "ADD") or "--from=" in rest:
                continue
            sources = [w for w in shlex.split(rest) if not w.startswith("--")][:-1]
            for source in sources:
                checks.check(source == "." or os.path.exists(os.path.join(repo, source)),
                             f"COPY source {source} does not exist")
                checks.check(source == "." or not dockerignore_excludes(repo, source),
                             f"COPY source {source} is excluded by .dockerignore")
    for needed_source in ("CMakeLists.txt", "src", "include", "scripts/install-deps", "topologies"):
        checks.check(not dockerignore_excludes(repo, needed_source),
                     f".dockerignore excludes {needed_source}, which the build needs")
    checks.finish()


if __name__ == "__main__":
    main()
