# genesys-exporter container image.
#   docker build -t genesys-exporter .
#   docker run --read-only -p 19464:19464 \
#     -e GENESYS_CLIENT_ID=... -e GENESYS_CLIENT_SECRET=... \
#     genesys-exporter --genesys.region=mypurecloud.ie
# Or mount the secret as a file (Kubernetes secret) and pass --genesys.client-secret-file.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
RUN cargo build --release --locked --bin genesys-exporter

FROM debian:bookworm-slim
# TLS roots are built into the binary (rustls with webpki roots): no CA bundle needed.
COPY --from=build /src/target/release/genesys-exporter /usr/local/bin/genesys-exporter
# An unprivileged user; the exporter writes nothing to disk, so --read-only works.
USER 65534:65534
EXPOSE 19464
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/genesys-exporter", "--version"]
ENTRYPOINT ["/usr/local/bin/genesys-exporter"]
