"""What the training pipeline's definition is built from, and the names and paths it shares with ml_code and the roles.

PipelineSettings is the one argument of build_pipeline_definition (training_pipeline_definition.py); the constants
are the contract between the pipeline's steps, the scripts they run (ml_code/) and the IAM that lets them run. No
SageMaker SDK here: the monitoring job and the pipeline's role read these without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from settings.schema import TrainingConfig

# The path evaluate.py writes the ROC-AUC at in evaluation.json; the condition reads exactly this.
AUC_JSON_PATH = "binary_classification_metrics.auc.value"
# Where evaluate.py writes the champion rule's floor (the champion's ROC-AUC minus the margin; 0 without a
# champion): the gate's second condition reads it.
CHAMPION_FLOOR_JSON_PATH = "champion_comparison.gate.minimum_auc"
# Where evaluate.py writes, in one sentence, which rule of the gate failed and by how much (with the AUC,
# the threshold, the serving model's AUC and the margin): the Fail step's message reads it.
GATE_REASON_JSON_PATH = "quality_gate.reason"
# The flip-rate gate's margin (ml_code/decision_stability.py), read only when training.max_flip_rate is set.
FLIP_MARGIN_JSON_PATH = "champion_comparison.flip_gate.margin"
# Matches the per-round line xgboost prints for the eval set named "validation" (see ml_code/train.py).
VALIDATION_AUC_METRIC_REGEX = r"validation-auc:([0-9.]+)"
# Every job a run creates carries this tag, valued with the environment's name: the pipeline role may create,
# describe and stop only jobs tagged with its own environment (aws:RequestTag / aws:ResourceTag conditions).
ENVIRONMENT_TAG_KEY = "mlops:environment"
# The model package's SAGEMAKER_SUBMIT_DIRECTORY: the serving code inside the model artifact, where train.py writes
# it (ml_code/model_io.py, SERVING_CODE_DIR_NAME) and SageMaker extracts model.tar.gz (/opt/ml/model). Each version
# serves with the code it was trained with; the model role reads nothing else but the model.
SERVING_CODE_DIRECTORY = "/opt/ml/model/code"
# train.py bounds every wait between training hosts by a share of the job's maximum runtime, read from here.
TRAINING_MAX_RUNTIME_ENV = "TRAINING_MAX_RUNTIME_SECONDS"

PROCESSING_ROOT = "/opt/ml/processing"
# What Preprocess writes and Evaluate reads, each a processing output/input of that name.
SPLITS = ("train", "validation", "test")
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
# Processing jobs get the same code bundle as training: unpack it, then run the named script with the
# job's arguments ("$1" is the script, the rest its arguments).
RUN_FROM_BUNDLE = (
    'set -euo pipefail; mkdir -p /opt/ml/code; tar -xzf "$(ls ' + CODE_DIR + '/*)" -C /opt/ml/code; '
    'script="$1"; shift; exec python3 "/opt/ml/code/$script" "$@"'
)


@dataclass(frozen=True)
class PipelineSettings:
    """What the definition depends on: the environment's training settings as cdk.json gives them (`training`), and
    what is not in them. Strings that are CDK tokens at synth time arrive as placeholders."""

    pipeline_name: str
    environment_name: str
    region: str
    role_arn: str
    artifacts_bucket: str
    code_uri: str  # s3:// URI of the ml_code bundle (sourcedir.tar.gz)
    kms_key_arn: str
    model_package_group_name: str
    training: TrainingConfig
    # Every environment's threshold (environment name -> threshold): each run's report shows them all.
    auc_thresholds: tuple[tuple[str, float], ...]
    # Private network mode (docs/private-network.md): the jobs' subnets and security groups. Empty: no VPC, and
    # no job isolated (today's definition).
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # The code bundle's object name (the last part of code_uri's key): where an isolated training job finds it.
    code_file_name: str = "sourcedir.tar.gz"

    @property
    def private_network(self) -> bool:
        return bool(self.subnet_ids)
