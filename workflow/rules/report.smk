# Stage: report (see docs/architecture.md).
