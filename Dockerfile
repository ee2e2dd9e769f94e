# genesys-exporter container image.
#   docker build --build-arg GENESYS_EXPORTER_REVISION="$(git rev-parse --short=12 HEAD)" \
#     -t genesys-exporter .
#   docker run --read-only -p 19464:19464 \
#     -e GENESYS_CLIENT_ID=... -e GENESYS_CLIENT_SECRET=... \
#     genesys-exporter --genesys.region=mypurecloud.ie
# Or mount the secret as a file (Kubernetes secret) and pass --genesys.client-secret-file.
# `bash scripts/check-docker-context.sh` builds what this file's build stage is given (its
# COPY lines, less .dockerignore) without Docker.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: Cargo.toml names the simulator crate, the tests and the benches, and
# cargo reads every one of them before it builds anything. .dockerignore keeps target/, .git
# and what the build never reads out of the context.
COPY . .
# The context has no .git: the revision that --version and genesys_exporter_build_info show
# comes from this argument ("unknown" without it).
ARG GENESYS_EXPORTER_REVISION=""
RUN cargo build --locked --release --bin genesys-exporter

# glibc and libgcc only (the binary links nothing else; TLS roots are built into it): no
# shell, no package manager. Debian 12, as the build stage, so the glibc versions match.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/genesys-exporter /usr/local/bin/genesys-exporter
COPY --from=build /src/LICENSE /usr/share/doc/genesys-exporter/LICENSE
# An unprivileged user (distroless' nonroot); the exporter writes nothing to disk, so
# --read-only works.
USER 65532:65532
EXPOSE 19464
# GET /-/healthy in-process (the image has no curl). With another --web.listen-address or TLS,
# set GENESYS_EXPORTER_HEALTHCHECK_URL (e.g. https://127.0.0.1:9443/-/healthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/genesys-exporter", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/genesys-exporter"]
