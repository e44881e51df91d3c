# Ferry's one image: `ferry worker`, `ferry agent` and the CLI (`ferry`, `storkctl`).
#
#   docker build -t ferry:0.1.0 .
#   docker run --rm ferry:0.1.0 --help
#
# Stage 1 compiles TypeScript and bundles the workflows once (the worker then starts with
# --workflow-bundle instead of bundling at every start); stage 2 holds only production
# dependencies and the compiled code, and runs as the unprivileged `node` user (uid 1000).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY schedule schedule
COPY resources resources
COPY workflows workflows
COPY activities activities
COPY datapath datapath
COPY workers workers
COPY client client
COPY localenv localenv
COPY bench bench
COPY tools/bundle-workflows.js tools/
RUN npx tsc -p tsconfig.build.json \
  && node tools/bundle-workflows.js dist/workflow-bundle.js \
  && rm -f dist/.tsbuildinfo

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist dist
RUN chmod +x dist/workers/ferry.js dist/workers/storkctl.js \
  && ln -s /app/dist/workers/ferry.js /usr/local/bin/ferry \
  && ln -s /app/dist/workers/storkctl.js /usr/local/bin/storkctl
USER node
# 9090: the worker's /metrics and /healthz; 9001/9010: the agent's control and data ports.
EXPOSE 9090 9001 9010
ENTRYPOINT ["ferry"]
CMD ["--help"]
