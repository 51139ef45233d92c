"""Statistics of the report stage: agreement, ROC, image similarity, reader study, cohort."""
