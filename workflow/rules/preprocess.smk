# Stage: preprocess (see docs/architecture.md).
