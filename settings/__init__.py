"""What every layer shares, below them all: the typed environment settings (schema.py) and their reading from
cdk.json (loading.py), and the fixed names of an environment's resources (resource_names.py). Pure Python:
importing it loads no CDK, no SDK and nothing else of this project, so stacks, constructs and tools/ import it
downward."""
