"""The synthesized templates as IAM sees them: one environment's stacks, with CloudFormation's intrinsics resolved to
the names and ARNs they will have; the evaluator in iam_policy.py judges their policies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# The account the environments resolve to. cdk.json leaves `account` null (the deploying credentials' account);
# any fixed value works as long as the policies and the recorded calls use the same one: this is the account moto
# and the handler tests use.
ACCOUNT = "123456789012"
PARTITION = "aws"


class UnresolvableIntrinsic(ValueError):
    """The template uses a function or attribute the resolver does not know: extend it, do not guess."""


@dataclass(frozen=True)
class Environment:
    """One environment's synthesized stacks, by stack id (`Data`, `Training`, ...)."""

    name: str
    templates: Mapping[str, Mapping[str, Any]]
    region: str

    def stack_name(self, stack_id: str) -> str:
        return f"{self.name}-{stack_id}"

    def stack_id(self, stack_name: str) -> str:
        prefix = f"{self.name}-"
        if not stack_name.startswith(prefix) or stack_name[len(prefix) :] not in self.templates:
            raise UnresolvableIntrinsic(f"no stack {stack_name!r} in environment {self.name!r}")
        return stack_name[len(prefix) :]

    def resources(self) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        for stack_id, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                yield stack_id, logical_id, resource

    def resolve(self, stack_id: str, value: Any) -> Any:
        return Resolver(self, stack_id).resolve(value)


@dataclass(frozen=True)
class Resolver:
    """Resolves CloudFormation intrinsics in one stack of an environment.

    A resource without an explicit name gets `<stack name>-<logical id>`, the shape CloudFormation's generated names
    have; policies and environment variables resolve through the same rules, so they agree with each other.
    """

    environment: Environment
    stack_id: str

    @property
    def template(self) -> Mapping[str, Any]:
        return self.environment.templates[self.stack_id]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part)) for part in self.resolve(parts))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            resolved = {name: self.resolve(item) for name, item in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return str(resolved[name])
                if "." in name:
                    return str(self.get_att(*name.split(".", 1)))
                return str(self.ref(name))

            return re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)
        if function == "Fn::GetStackOutput":
            stack_id = self.environment.stack_id(argument["StackName"])
            output = self.environment.templates[stack_id]["Outputs"][argument["OutputName"]]
            return Resolver(self.environment, stack_id).resolve(output["Value"])
        if function == "Fn::ImportValue":
            return self.import_value(self.resolve(argument))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::GetAZs":  # a created VPC's subnets: stand-in zone names of the region
            return [f"{self.environment.region}{zone}" for zone in "abc"]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        raise UnresolvableIntrinsic(f"{function} in stack {self.stack_id}: {json.dumps(value)[:200]}")

    def import_value(self, export_name: str) -> Any:
        for stack_id, template in self.environment.templates.items():
            for output in template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and Resolver(self.environment, stack_id).resolve(export) == export_name:
                    return Resolver(self.environment, stack_id).resolve(output["Value"])
        raise UnresolvableIntrinsic(f"no export named {export_name!r} in environment {self.environment.name}")

    # -- pseudo parameters and resources

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.environment.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.environment.stack_name(self.stack_id),
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            default = self.template["Parameters"][name].get("Default")
            if default is None:
                raise UnresolvableIntrinsic(f"parameter {name} has no default")
            return default
        resource = self._resource(name)
        kind = resource["Type"]
        physical = self.physical_name(name)
        arn_of = {
            "AWS::SNS::Topic": lambda: self.arn("sns", physical),
            "AWS::StepFunctions::StateMachine": lambda: self.arn("states", f"stateMachine:{physical}"),
            "AWS::SQS::Queue": lambda: f"https://sqs.{self.environment.region}.amazonaws.com/{ACCOUNT}/{physical}",
            "AWS::KMS::Key": lambda: self._key_id(name),
        }
        return arn_of[kind]() if kind in arn_of else physical

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._resource(logical_id)
        kind = resource["Type"]
        physical = self.physical_name(logical_id)
        attributes: dict[tuple[str, str], Any] = {
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{physical}",
            ("AWS::KMS::Key", "Arn"): lambda: self.arn("kms", f"key/{self._key_id(logical_id)}"),
            ("AWS::SQS::Queue", "Arn"): lambda: self.arn("sqs", physical),
            ("AWS::SNS::Topic", "TopicArn"): lambda: self.arn("sns", physical),
            ("AWS::Logs::LogGroup", "Arn"): lambda: self.arn("logs", f"log-group:{physical}:*"),
            ("AWS::Lambda::Function", "Arn"): lambda: self.arn("lambda", f"function:{physical}"),
            ("AWS::StepFunctions::StateMachine", "Arn"): lambda: self.arn("states", f"stateMachine:{physical}"),
            ("AWS::StepFunctions::StateMachine", "Name"): lambda: physical,
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{physical}",
            ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupArn"): lambda: self.arn(
                "sagemaker", f"model-package-group/{physical.lower()}"
            ),
            ("AWS::SageMaker::Pipeline", "PipelineName"): lambda: physical,
            ("AWS::Events::Rule", "Arn"): lambda: self.arn("events", f"rule/{physical}"),
            ("AWS::CloudWatch::Alarm", "Arn"): lambda: self.arn("cloudwatch", f"alarm:{physical}"),
            # Private network mode: the jobs', model's and functions' security groups, named by a stand-in id.
            ("AWS::EC2::SecurityGroup", "GroupId"): lambda: physical,
            ("AWS::DynamoDB::Table", "Arn"): lambda: self.arn("dynamodb", f"table/{physical}"),
        }
        if (kind, attribute) not in attributes:
            raise UnresolvableIntrinsic(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) in stack {self.stack_id}")
        return attributes[(kind, attribute)]()

    def physical_name(self, logical_id: str) -> str:
        resource = self._resource(logical_id)
        properties = resource.get("Properties", {})
        name_property = {
            "AWS::IAM::Role": "RoleName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
            "AWS::SageMaker::Pipeline": "PipelineName",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::Events::Rule": "Name",
            "AWS::DynamoDB::Table": "TableName",
        }.get(resource["Type"])
        if name_property and name_property in properties:
            return str(self.resolve(properties[name_property]))
        return f"{self.environment.stack_name(self.stack_id)}-{logical_id}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.environment.region}:{ACCOUNT}:{resource}"

    def _key_id(self, logical_id: str) -> str:
        # Key ids are UUIDs assigned at creation: a stable stand-in derived from the logical id.
        return f"{self.environment.stack_name(self.stack_id)}-{logical_id}".lower()

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        try:
            return self.template["Resources"][logical_id]
        except KeyError:
            raise UnresolvableIntrinsic(f"no resource {logical_id} in stack {self.stack_id}") from None
