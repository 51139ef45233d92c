# Stage: quantify (see docs/architecture.md).
