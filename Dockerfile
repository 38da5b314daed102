# Kasparro: API + scheduler image. Build: docker build -t kasparro .
# Installs the package non-editable with its runtime dependencies and the `lake` extra
# (pyarrow, for `kasparro export`: a production deployment exports before retention drops):
# everything the commands in docker-compose.yml run (kasparro migrate / serve / scheduler /
# check-scheduler / export) and the package data they read (migrations, dashboard assets,
# emulator seed, sample CSV).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install ".[lake]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 KASPARRO_LOG_JSON=true
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 kasparro
USER kasparro
WORKDIR /home/kasparro
EXPOSE 8000
# The API's check; docker-compose.yml gives the scheduler its own (kasparro check-scheduler).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
# Migrate, then serve the API and the scheduler in one process (override for split roles).
CMD ["sh", "-c", "kasparro migrate && exec kasparro up --host 0.0.0.0 --port 8000"]
