# syntax=docker/dockerfile:1
# sluice container image: build on Debian bookworm with the same scripts as CI, run on bookworm-slim with only
# the shared libraries the binaries link against.
#
#   docker build -t sluice .
#   docker run --rm sluice validate /usr/share/sluice/topologies/word-count.json
#   docker run --rm -p 8080:8080 -e SLUICE_BOOTSTRAP_SERVERS=broker:9092 \
#     sluice run /usr/share/sluice/topologies/word-count.json
#
# tests/deploy/runtime_packages.py checks that every library `ldd` lists for the built binaries comes from a
# package installed in the runtime stage below.

ARG DEBIAN_RELEASE=bookworm

# ---- build: compilers and -dev packages from scripts/install-deps, then the CMake build CI runs ----
FROM debian:${DEBIAN_RELEASE} AS build
COPY scripts/install-deps /src/scripts/install-deps
# --build-only: the compiler and library headers, without the JDK, Maven, kcat, helm... used only by tests.
RUN /src/scripts/install-deps --build-only
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=OFF \
 && cmake --build /build -j "$(nproc)" --target sluice sluice-datagen \
 && strip --strip-debug /build/sluice /build/sluice-datagen \
 && /build/sluice validate /src/topologies/word-count.json

# ---- runtime: shared libraries only, non-root, state on a volume ----
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# One package per line: the libraries `ldd build/sluice` and `ldd build/sluice-datagen` resolve to (dpkg -S),
# named even when bookworm-slim already ships them (libstdc++6, zlib1g...), so the image does not depend on what
# the base image happens to contain. ca-certificates lets kafka.security.protocol=SSL/SASL_SSL verify brokers
# with public certificates without kafka.ssl.ca.location (and the schema registry over https without
# schema_registry_ca_file); libcurl4 (the registry client) brings the Kerberos, LDAP, SSH, RTMP and GnuTLS
# libraries listed with it; libprotobuf32 compiles Protobuf schemas (its .proto parser). librocksdb is linked statically
# (no package needed).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libbrotli1 \
      libbz2-1.0 \
      libc6 \
      libcom-err2 \
      libcurl4 \
      libffi8 \
      libgcc-s1 \
      libgmp10 \
      libgnutls30 \
      libgssapi-krb5-2 \
      libhogweed6 \
      libidn2-0 \
      libjemalloc2 \
      libk5crypto3 \
      libkeyutils1 \
      libkrb5-3 \
      libkrb5support0 \
      libldap-2.5-0 \
      liblz4-1 \
      libnettle8 \
      libnghttp2-14 \
      libp11-kit0 \
      libprometheus-cpp-core1.0 \
      libprotobuf32 \
      libpsl5 \
      librdkafka1 \
      librtmp1 \
      libsasl2-2 \
      libsimdjson14 \
      libsnappy1v5 \
      libssh2-1 \
      libssl3 \
      libstdc++6 \
      libtasn1-6 \
      libunistring2 \
      libyaml-0-2 \
      libzstd1 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --no-create-home \
      --shell /usr/sbin/nologin sluice \
 && mkdir -p /var/lib/sluice \
 && chown sluice:sluice /var/lib/sluice

COPY --from=build /build/sluice /build/sluice-datagen /usr/local/bin/
COPY topologies/ /usr/share/sluice/topologies/

# Local state (RocksDB). Losing it costs a restore from the changelog topics, never data; keep it on a volume so
# a restarted container restores only the changelog tail.
ENV SLUICE_STATE_DIR=/var/lib/sluice \
    SLUICE_HTTP_PORT=8080
VOLUME ["/var/lib/sluice"]
WORKDIR /var/lib/sluice
EXPOSE 8080
USER 10001:10001

# /healthz answers 200 while the process is alive. bash's /dev/tcp keeps curl (and its libraries) out of the
# image; the port follows SLUICE_HTTP_PORT when it is overridden.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SLUICE_HTTP_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop) commits the open transaction and exits; give it the stop timeout it needs
# (shutdown_timeout, 30 s by default: `docker stop -t 40`, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["help"]
