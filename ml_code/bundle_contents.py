"""What travels to SageMaker: the code bundle every job runs from, and the serving code packed into each model.

Standard library only and no imports, so that the CDK app (constructs/ml_code_bundle.py) reads the same lists
without ml_code's libraries. Developer tools (ml_code/local/) are in neither list. tests/infra/test_ml_code_bundle.py
checks that the bundle holds exactly BUNDLE_FILES, that each list is closed under the imports of its entry scripts,
and that every module in ml_code/ is listed; tests/ml/test_serving_code.py imports the endpoint's entry script from
SERVING_MODULES alone.
"""

# The scripts the pipeline's steps run (constructs/training_pipeline_jobs.py names them) and the endpoint's
# entry script (SAGEMAKER_PROGRAM).
JOB_SCRIPTS = ("preprocess.py", "train.py", "evaluate.py")
ENDPOINT_SCRIPT = "inference.py"
# The monitoring job's script: no pipeline step names it; the monitoring launcher starts it
# (constructs/model_monitoring_lambda/model_monitoring/launcher.py) as a processing job from this same bundle.
MONITORING_SCRIPT = "monitor.py"

# Exactly what the endpoint runs: its entry script and every ml_code module it imports, directly or not. Training
# copies them into model.tar.gz under code/ (model_io.write_serving_code), so each model version serves with the
# code it was trained with.
SERVING_MODULES = (
    ENDPOINT_SCRIPT,
    "inference_handlers.py",
    "request_features.py",
    "arrow_csv.py",
    "artifacts.py",
    "bundle_contents.py",
    "contract.py",
    "job_output.py",
    "model_io.py",
)

# The modules only the jobs import (the parts of preprocess, train, evaluate and monitor, beyond what the serving
# modules hold).
JOB_MODULES = (
    "bootstrap_resampling.py",
    "capture.py",
    "champion.py",
    "decision_stability.py",
    "decision_thresholds.py",
    "drift.py",
    "evaluation_metrics.py",
    "evaluation_report.py",
    "input_files.py",
    "labels.py",
    "monitoring_baseline.py",
    "monitoring_report.py",
    "quality_gate.py",
    "training_group.py",
)
# Preprocess's default contract (contract.DEFAULT_CONTRACT_PATH); the trigger checks uploads against it too.
DATA_CONTRACT = "data_contract.json"

# sourcedir.tar.gz, each file named once above: the job scripts (the monitoring job's too) and what they import,
# the serving modules (training copies them from here into the model) and the data contract.
BUNDLE_FILES = tuple(sorted({*JOB_SCRIPTS, MONITORING_SCRIPT, *JOB_MODULES, *SERVING_MODULES, DATA_CONTRACT}))
