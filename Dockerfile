# Braid runtime image, used by every Braid service in docker-compose.yml.
#
# There is no build step: the TypeScript sources run through tsx, which is a
# production dependency (see bin/braid.js), so the image is just "production
# node_modules + the repository".
# Node 24, an LTS line Braid supports (package.json "engines").
FROM node:24-bookworm-slim

# NODE_ENV=production also makes npm (and the `npx` of the compose commands)
# leave devDependencies alone. The NPM_CONFIG_* settings stop `npx braid` from
# calling the registry at container start: no update check, no audit, no funding
# banner. (`npx braid` finds the `braid` bin of /app/package.json itself and only
# links /app into its cache under $HOME/.npm; it downloads nothing.)
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false

WORKDIR /app

# Dependencies first, so editing Braid's sources does not invalidate this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# The sources. .dockerignore keeps the host's node_modules (possibly built for
# another OS/CPU), local state (.braid, data) and .git out.
# They belong to the unprivileged `node` user (uid 1000, shipped with the base
# image), as do /app itself and /data, so that Braid can write local state
# without running as root. A named volume mounted on /data starts with the
# ownership of the image's /data directory.
COPY --chown=node:node . .
RUN chown node:node /app \
    && mkdir -p /data \
    && chown node:node /data
USER node

# Compose runs `npx braid <command>` (produce, speed, archive, serve, ...);
# on its own the image just prints the CLI's help.
CMD ["npx", "braid", "--help"]
