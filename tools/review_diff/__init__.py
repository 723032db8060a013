"""`make diff`: what a change does to every environment's stacks, as ops review it, offline.

Synthesizes the base commit (exported with `git archive`, run with this checkout's .venv and node_modules, so
nothing is downloaded) and the working tree with the CDK CLI, then for every environment and stack reports:
- the security-relevant resources added, removed or changed (IAM, KMS, resource policies, encryption
  settings), first, so a reviewer cannot miss them;
- the CDK CLI's own template diff (`cdk diff --app <new assembly> -e <stack> --template <old template>`,
  `-e` because a stack with dependencies cannot be compared to a fixed template without it), whose IAM
  statement and security group tables show permission changes line by line;
- the pipeline definition as a unified diff of pretty-printed JSON: the template holds it as one escaped
  string, which the CLI's diff replaces here by a digest.
It leads with the environments' settings that change in cdk.json, in plain words, warnings first for a change that
weakens a guard (settings_changes.py). A pipeline hunk that is the same in several environments (every
environment's report lists every threshold, for one) is shown once, then named where it repeats.
The same report is written as Markdown (the pull request's job summary in CI).

The package, one story a module: git_and_cdk.py (git, `cdk synth` and `cdk diff` as subprocesses), comparison.py
(two cloud assemblies compared stack by stack), settings_changes.py (cdk.json's settings in plain words),
rendering.py (the report as text and Markdown, repeated pipeline hunks folded), cli.py (the arguments and the run).
"""
