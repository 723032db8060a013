"""What the `TrainingNotifier` construct and its function share; imports nothing of the package."""

from __future__ import annotations

# The environment variables the construct writes the function's settings into.
ENVIRONMENT_NAME_VARIABLE = "ENVIRONMENT_NAME"
TOPIC_ARN_VARIABLE = "TOPIC_ARN"

# The EventBridge detail types the construct's rules match and the function tells apart.
PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"

# The longest subject Publish takes: "Subjects must be UTF-8 text with no line breaks or control characters, and
# less than 100 characters long" (Amazon SNS API reference, Publish, Subject).
SNS_SUBJECT_MAX_CHARS = 99
