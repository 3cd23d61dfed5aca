# The Zalo OA module for production: PostgreSQL, several uvicorn workers per container.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gql gql
COPY models models
COPY resolvers resolvers
COPY legacy_rest legacy_rest
COPY zalo zalo
COPY zalo_oa zalo_oa
COPY migrations migrations
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /app zalo-oa
COPY --from=build /install /usr/local
WORKDIR /app
USER 10001
ENV ZALO_OA_LOG_JSON=true \
    ZALO_OA_DATA_DIR=/app/var \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"]
ENTRYPOINT ["zalo-oa"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
