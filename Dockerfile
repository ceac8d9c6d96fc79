# mcp-fleet: the API over Postgres (DATABASE_URL) or Supabase (SUPABASE_URL + key), on Node 24 (the
# current LTS). It runs the bundled JavaScript (npm run build: scripts/build.mjs, dist/): nothing
# is transpiled at start. test/build.test.ts builds dist/ the same way and runs it as a real
# process against the sources' schema, so what ships is what was tested.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# npm ci's prepare step makes the embedded database's template (scripts/pglite-template.mjs).
COPY scripts/pglite-template.mjs scripts/pglite-template.d.mts scripts/build.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/pglite-template.mjs ./scripts/
# The embedded database's templates (made by prepare, as root) must be readable by the node user.
RUN npm ci --omit=dev --no-audit --no-fund && chmod -R a+rX node_modules/.cache

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 PGLITE_DIR=/home/node/mcp-fleet-data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Creates an embedded database (from the template in node_modules/.cache, made by npm ci above).
COPY scripts/pglite-template.mjs ./scripts/
# The dashboard's page, script and style are served as they are.
COPY src/dashboard ./src/dashboard
COPY schema ./schema
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/main.js", "serve"]
