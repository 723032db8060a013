"""Command-line tools run from the Makefile (`python -m tools.<name>` from the repository root, with `.venv`):
the approvers' CLI and the change review; not part of the CDK app."""
