"""Helpers for the tests in tests/infra (the files named test_*.py there): the IAM least-privilege check and its
models (iam_*.py), EventBridge pattern matching, and processes started early in the session.

Not moved yet: synthesis.py, and the deploy workflow's harness and doubles (deploy_world.py,
step_functions_harness.py, sagemaker_endpoint_double.py, sample_events.py), which other work is changing."""
