"""What the `TrainingTrigger` construct and its function share; imports nothing of the package."""

from __future__ import annotations

# "Subject ... must be ASCII text that begins with a letter, number, or punctuation mark; must not include line
# breaks or control characters; and must be less than 100 characters long" (Amazon SNS API reference, Publish).
SNS_SUBJECT_LIMIT = 100

# Preprocess reads plain and gzip-compressed CSV (ml_code/input_files.py, CSV_SUFFIXES).
CSV_SUFFIX = ".csv"
GZIP_SUFFIX = ".csv.gz"
