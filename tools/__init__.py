"""Developer tools run from the Makefile (`python -m tools.<name>`); not part of the CDK app."""
