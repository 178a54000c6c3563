# keyswitch container image. Build from the repository root:
#   docker build -t keyswitch:0.1.0 .
# Stages: build (compile, pack) → install (the production tree from the pack and the lockfile)
# → runtime (distroless Node, no shell, no npm, non-root). test/integration/packaging.test.ts
# runs the same npm steps without Docker and starts the result.
#
# Pin the base images by digest for reproducible builds (docker buildx imagetools inspect <image>).

# ---- build: the dev tree, the TypeScript build, and the package tarball -------------------------
FROM node:22-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so this layer is reused while only sources change. --ignore-scripts: the
# sources are not here yet for the `prepare` build, and no dependency needs its install script
# (protobufjs's only prints a version warning).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# tsconfig.json compiles src/ and test/ together, so test/ is part of the build (not of the image).
COPY tsconfig.json LICENSE README.md ./
COPY proto ./proto
COPY src ./src
COPY test ./test
RUN npm run build
# The package's own file list ("files" in package.json: dist/src, proto, plus package.json,
# README.md and LICENSE): exactly what a release ships, nothing of test/ or the TypeScript sources.
RUN mkdir /pack && npm pack --ignore-scripts --pack-destination /pack \
    && mv /pack/keyswitch-*.tgz /pack/keyswitch.tgz

# ---- install: the production tree -------------------------------------------------------------
FROM node:22-bookworm-slim AS install
WORKDIR /app
COPY --from=build /pack/keyswitch.tgz /tmp/keyswitch.tgz
# The lockfile pins every transitive dependency (npm pack leaves it out), so the image runs the
# tree CI tested. --omit=dev: runtime dependencies only; --ignore-scripts: no `prepare` build
# (the tarball is built already) and no dependency install script.
COPY package-lock.json ./
RUN tar -xzf /tmp/keyswitch.tgz --strip-components=1 -C /app \
    && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && rm -f /tmp/keyswitch.tgz

# ---- runtime ------------------------------------------------------------------------------------
# Node 22 without a shell or a package manager; the image's nonroot user is 65532.
FROM gcr.io/distroless/nodejs22-debian12:nonroot AS runtime
WORKDIR /app
# Owned by root and read-only to the process: it cannot change its own code, and the pod may run
# with readOnlyRootFilesystem (envoy/kubernetes/deployment.yaml).
COPY --from=install /app /app
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 65532:65532
# No HEALTHCHECK: Kubernetes owns probing (HTTP /healthz and /readyz on the admin port, see
# envoy/kubernetes/deployment.yaml); a Docker HEALTHCHECK would also need a shell or a client here.
# Settings come from KEYSWITCH_* variables (README.md, "Settings"): no port is exposed here, since
# the listeners are whatever KEYSWITCH_GRPC_LISTEN and KEYSWITCH_ADMIN_LISTEN say.
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/main.js"]
