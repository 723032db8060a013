"""What the `TrainingTrigger` construct and its function share; imports nothing of the package."""

from __future__ import annotations

# The longest subject Publish takes: "Subjects must be UTF-8 text with no line breaks or control characters, and
# less than 100 characters long" (Amazon SNS API reference, Publish, Subject).
SNS_SUBJECT_MAX_CHARS = 99

# The environment variables the construct writes the function's settings into.
ENVIRONMENT_NAME_VARIABLE = "ENVIRONMENT_NAME"
PIPELINE_NAME_VARIABLE = "PIPELINE_NAME"
TOPIC_ARN_VARIABLE = "TOPIC_ARN"
MAX_UPLOAD_BYTES_VARIABLE = "MAX_UPLOAD_BYTES"
TARGET_COLUMN_VARIABLE = "TARGET_COLUMN"
ALLOWED_COLUMNS_VARIABLE = "ALLOWED_COLUMNS"  # JSON: a list of column names, or null for any
IGNORED_COLUMNS_VARIABLE = "IGNORED_COLUMNS"  # JSON: a list of column names; optional
PINNED_INPUT_BUCKET_VARIABLE = "PINNED_INPUT_BUCKET"
PINNED_INPUT_PREFIX_VARIABLE = "PINNED_INPUT_PREFIX"
ENDPOINT_NAME_VARIABLE = "ENDPOINT_NAME"

# Preprocess reads plain and gzip-compressed CSV (ml_code/input_files.py, CSV_SUFFIXES).
CSV_SUFFIX = ".csv"
GZIP_SUFFIX = ".csv.gz"
