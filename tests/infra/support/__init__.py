"""Helpers for the tests in tests/infra (the files named test_*.py there): the synthesis the session shares, the IAM
least-privilege check and its models (iam_*.py), EventBridge pattern matching, sample events, the deploy workflow's
harness (step_functions_harness.py, deploy_world.py, documented_support.py), and processes started early in the
session. The SageMaker endpoint double lives in twin/sagemaker_endpoint_double.py: the local twin uses it too."""
