# Stage: ingest (see docs/architecture.md).
