# Firebreak worker and intake API. Build: docker build -t firebreak .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FIREBREAK_HOME=/data FIREBREAK_PLAYBOOK=/config/playbook.toml
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli.py worker.py ./
COPY workflows ./workflows
COPY activities ./activities
COPY playbook ./playbook
COPY integrations ./integrations
COPY intake ./intake
COPY embedded ./embedded
COPY bench ./bench
COPY observability ./observability
COPY playbook.toml /config/playbook.toml
RUN pip install --no-cache-dir . && useradd --system --uid 10001 firebreak && mkdir -p /data \
    && chown firebreak /data
USER firebreak
VOLUME ["/data"]
CMD ["firebreak", "worker"]
