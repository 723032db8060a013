"""What the `TrainingNotifier` construct and its function share; imports nothing of the package."""

from __future__ import annotations

# The EventBridge detail types the construct's rules match and the function tells apart.
PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"

# "Subject ... must be ASCII text that begins with a letter, number, or punctuation mark; must not include line
# breaks or control characters; and must be less than 100 characters long" (Amazon SNS API reference, Publish).
SNS_SUBJECT_LIMIT = 100
