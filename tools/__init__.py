"""Command-line tools for the people who run the project (run from the repository root with `.venv`)."""
