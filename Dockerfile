# syntax=docker/dockerfile:1
# The gke-aws-verifier image: `make image` builds and pushes it. Multi-stage: the Rust toolchain
# builds the release binaries; the image that runs them is distroless (no shell, no package
# manager) and runs as the non-root user 65532. It carries the binaries: gke-aws-verifier (the
# entrypoint: verify Job, credential helpers, the token-file sidecar) and gke-aws-webhook (the
# injection webhook's Deployment sets `command: [/usr/local/bin/gke-aws-webhook]`), so the
# sidecar the webhook injects is the very image the webhook runs from.
#
# The runtime base is distroless cc, not static: the binary links glibc (and libgcc_s) while
# rustls' aws-lc crypto is compiled in, so it needs glibc but no OpenSSL. cc-debian12 carries glibc,
# libgcc, CA certificates and tzdata and nothing else. The build stage is Debian 12 (bookworm)
# too, so the glibc the binary was linked against is the one it runs with.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The whole workspace: cargo resolves every member's manifest, even to build one package.
COPY Cargo.toml Cargo.lock ./
COPY verifier/ verifier/
COPY metadata-emulator/ metadata-emulator/
COPY testkit/ testkit/
COPY webhook/ webhook/
COPY trust-policy/ trust-policy/
COPY audit/ audit/
COPY scripts/build-release.sh scripts/
# The shipping build, as `make release`, `release-webhook` and `release-audit` run it: each
# binary in its own cargo invocation (built together, their dependencies' features would be
# unified into each: kube-rs' into the verifier), --locked, and the verifier checked against its
# 8 MB budget. Cache mounts keep the registry and the target directory between builds, so the
# binaries are copied out of the mounted target dir into /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    scripts/build-release.sh --out /out verifier webhook audit

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/gke-aws-verifier /usr/local/bin/gke-aws-verifier
COPY --from=build /out/gke-aws-webhook /usr/local/bin/gke-aws-webhook
# Beside the verifier: `gke-aws-verifier audit` runs it (the audit CronJob calls it directly).
COPY --from=build /out/gke-aws-audit /usr/local/bin/gke-aws-audit
# 65532 is distroless' "nonroot" user; numeric so Kubernetes' runAsNonRoot can check it.
USER 65532:65532
# A HEALTHCHECK needs something to probe: this is a one-shot CLI (Jobs, init containers, a
# credential_process helper), and Kubernetes ignores Docker health checks anyway.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/gke-aws-verifier"]
CMD ["--help"]
