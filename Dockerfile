# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 NETPOL_VAR_DIR=/var/lib/netpol-auditor
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY netpol ./netpol
COPY auditor ./auditor
COPY webui ./webui
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && useradd --system --uid 10001 netpol \
    && mkdir -p /var/lib/netpol-auditor && chown netpol /var/lib/netpol-auditor
USER netpol
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "120", "--access-logfile", "-"]
