"""The one place where the least-privilege check (test_iam_least_privilege.py) is told to accept something.

Roles are named by their construct path without the environment (`Training/Trigger/Trigger/Role`), so an entry
holds for every environment and survives logical-id changes. Every entry needs a reason a reviewer can check.
Remove an entry as soon as its reason stops being true: the check reports entries that matched nothing.
"""

from __future__ import annotations

# Roles the check does not judge, with why. Every other role in the templates must be checked, so a new role
# cannot slip past it.
ROLES_NOT_CHECKED: dict[str, str] = {
    "Data/Custom::S3AutoDeleteObjectsCustomResourceProvider/Role": (
        "CDK's own auto-delete-objects provider (aws-cdk-lib code, AWS managed AWSLambdaBasicExecutionRole plus "
        "the bucket policy CDK writes); no project test drives it"
    ),
    "Deployment/ModelDeployment/StateMachine/Role": (
        "the deploy workflow's Step Functions role: CDK derives it from the state machine's tasks (invoke the four "
        "steps, publish to the topic) and logging/X-Ray settings; its calls are Step Functions', not recorded here"
    ),
    "Deployment/ModelDeployment/StateMachine/EventsRole": (
        "EventBridge's role for the approval rule's target: CDK grants exactly states:StartExecution on the machine"
    ),
}

# (role, action, resource pattern) -> why. The pattern uses IAM's `*` and `?` and is matched against the finding's
# resource: for UNUSED, the statement's resources as the finding prints them (comma-separated).

_DESCRIBE_KEY = (
    "SageMaker checks the KmsKeyId/VolumeKmsKeyId keys it is given when it creates jobs and endpoints; no execution "
    "role page lists kms:DescribeKey, and it cannot be proven unneeded offline: kept until a real run shows it is"
)

# Granted although no recorded call and no documented service-side need uses it.
UNUSED_GRANTS_ACCEPTED: dict[tuple[str, str, str], str] = {
    ("Training/Pipeline/ExecutionRole", "kms:DescribeKey", "*"): _DESCRIBE_KEY,
    ("Deployment/ModelDeployment/ModelRole", "kms:DescribeKey", "*"): _DESCRIBE_KEY,
    ("Deployment/ModelDeployment/StartRolloutRole", "kms:DescribeKey", "*"): _DESCRIBE_KEY,
    ("Training/Pipeline/ExecutionRole", "s3:AbortMultipartUpload", "*"): (
        "jobs upload large outputs (model.tar.gz, splits) in parts and abort a failed upload; no offline run "
        "uploads anything"
    ),
    ("Training/Pipeline/ExecutionRole", "sagemaker:DescribeModelPackageGroup", "*"): (
        "the RegisterModel step's reads of its group are not documented; kept until a real run shows it unneeded"
    ),
    ("Deployment/ModelDeployment/ModelRole", "cloudwatch:DescribeAlarms", "*:alarm:*"): (
        'SageMaker Developer Guide, "Auto-Rollback Configuration and Monitoring": the execution role must be '
        "allowed cloudwatch:DescribeAlarms on the rollback alarms; SageMaker calls it, no handler does"
    ),
    ("Deployment/ModelDeployment/TeardownRole", "application-autoscaling:DeregisterScalableTarget", "*"): (
        "the teardown deregisters the variant's scalable target when one is registered; the environments it exists "
        "in (removal_policy destroy: dev, stg) configure no autoscaling, so no test registers one first"
    ),
    ("Deployment/ModelDeployment/ConcludeRole", "application-autoscaling:DeregisterScalableTarget", "*"): (
        "Conclude deregisters the variant's scalable target when the environment's settings no longer configure "
        "autoscaling but a target is registered (model_deployment/autoscaling.py); no test changes an environment's "
        "autoscaling between two deploys"
    ),
    ("Training/Trigger/Trigger/Role", "s3:AbortMultipartUpload", "*/pipeline-inputs/*"): (
        "boto3's managed copy (s3.copy) copies objects above its 8 MB multipart threshold in parts and aborts the "
        "upload when a part fails; the tests copy small objects in one CopyObject"
    ),
}

# A recorded call or need the policy denies, accepted: only where AWS cannot deliver the request that the test
# makes, with why.
DENIALS_ACCEPTED: dict[tuple[str, str, str], str] = {
    ("Deployment/ModelDeployment/PrepareRole", "sagemaker:DescribeModelPackage", "*:model-package/someone-else/*"): (
        "test_a_package_of_another_group_is_skipped feeds the workflow another group's approval; the approval rule "
        "only delivers this group's events, and in AWS the Describe would be denied (the step fails and is reported "
        "instead of skipped)"
    ),
}
