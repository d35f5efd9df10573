# Aurora Locus PDS. Node 22 comes from the base image here, so the npm-provided runtime is skipped (--omit=optional)
# and better-sqlite3 is built against the image's own Node.
FROM node:22-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    PDS_PORT=3000 \
    PDS_DATA_DIRECTORY=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY migrations ./migrations
COPY src ./src
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PDS_PORT||3000)+'/xrpc/_health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Node runs as PID 1 and handles SIGTERM itself (src/main.ts): `docker stop` gets a clean shutdown, exit code 0,
# well within its 10 s.
CMD ["node", "--import", "./src/type-strip-cache.js", "src/index.ts"]
