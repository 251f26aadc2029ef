# callbackd's container image: a static binary on distroless, as a non-root
# user, with a read-only root filesystem and the data directory as a volume.
#
#   docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse HEAD) -t callbackd .
#   docker run --read-only -p 8080:8080 -v callbackd-data:/data \
#     -e LLM_WEBHOOK_SECRET=… callbackd
#
# The binary is built by tools/release.sh, the release recipe (static,
# -trimpath, version and commit stamped with -ldflags -X); the build stage
# runs on the builder's platform and cross-compiles for the target's.

FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Set by BuildKit (docker build, buildx) from --platform.
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=(devel)
ARG COMMIT=unknown
RUN VERSION="$VERSION" COMMIT="$COMMIT" tools/release.sh -o /out "$TARGETOS/$TARGETARCH" \
 && mv "/out/callbackd-$TARGETOS-$TARGETARCH" /out/callbackd \
 && mv "/out/callbackctl-$TARGETOS-$TARGETARCH" /out/callbackctl \
 && mkdir -p /out/data

# distroless/static: CA certificates (JWKS over HTTPS), tzdata, /etc/passwd
# with the nonroot user (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/callbackd /out/callbackctl /usr/local/bin/
# The data directory belongs to the non-root user and is its only writable
# place (SQLite and the generated admin token); mount a volume there.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /data
USER 65532:65532
ENV CALLBACKD_ADDR=0.0.0.0:8080 \
    CALLBACKD_DATA_DIR=/data \
    CALLBACKD_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# Readiness: /readyz is 200 while the database answers. Orchestrators should
# probe HTTP directly instead: liveness GET /healthz, readiness GET /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/callbackd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/callbackd"]
