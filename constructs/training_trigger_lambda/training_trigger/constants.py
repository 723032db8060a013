"""What the `TrainingTrigger` construct and its function share; imports nothing of the package."""

from __future__ import annotations

# The longest subject Publish takes: "Subjects must be UTF-8 text with no line breaks or control characters, and
# less than 100 characters long" (Amazon SNS API reference, Publish, Subject).
SNS_SUBJECT_MAX_CHARS = 99

# Preprocess reads plain and gzip-compressed CSV (ml_code/input_files.py, CSV_SUFFIXES).
CSV_SUFFIX = ".csv"
GZIP_SUFFIX = ".csv.gz"
