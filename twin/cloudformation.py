"""One environment's cloud assembly (cdk.out) as CloudFormation would deploy it into the twin's account.

Templates are read generically: resources by type, intrinsics resolved the way CloudFormation documents them
(Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::ImportValue, and CDK's Fn::GetStackOutput for
cross-stack references), physical names from the properties that set them, else derived from the logical id
(CloudFormation would add a random suffix; the twin keeps them readable). File assets are found through the
stacks' asset manifests, at the bucket and key the templates name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# The property that holds a resource's physical name, by type (CloudFormation's resource reference pages).
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName",
}


@dataclass(frozen=True)
class Resource:
    stack: Stack
    logical_id: str
    type: str
    properties: Mapping[str, Any]

    @property
    def name(self) -> str:
        explicit = self.properties.get(NAME_PROPERTIES.get(self.type, ""))
        if explicit is not None:
            return str(self.stack.assembly.resolve(explicit, self.stack))
        return f"{self.stack.name}-{self.logical_id}"[:64]

    def resolved(self, key: str, default: Any = None) -> Any:
        value = self.properties.get(key, default)
        return self.stack.assembly.resolve(value, self.stack)


@dataclass
class Stack:
    assembly: Assembly
    name: str  # the CloudFormation stack name, e.g. dev-Training
    template: Mapping[str, Any]
    assets: Mapping[str, Any]  # the stack's asset manifest

    def resources(self, resource_type: str | None = None) -> Iterator[Resource]:
        for logical_id, resource in self.template.get("Resources", {}).items():
            if resource_type is None or resource["Type"] == resource_type:
                yield Resource(self, logical_id, resource["Type"], resource.get("Properties", {}))

    def resource(self, logical_id: str) -> Resource:
        resource = self.template["Resources"][logical_id]
        return Resource(self, logical_id, resource["Type"], resource.get("Properties", {}))

    def output(self, name: str) -> Any:
        return self.assembly.resolve(self.template["Outputs"][name]["Value"], self)


@dataclass(frozen=True)
class FileAsset:
    source: Path  # a file, or a folder CDK zips
    packaging: str  # "file" or "zip"
    bucket: str
    key: str


class Assembly:
    """The stacks of one environment in a cloud assembly, and CloudFormation's view of their values."""

    def __init__(self, cdk_out: Path, environment: str) -> None:
        self.directory = cdk_out / f"assembly-{environment}"
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory} not found: synthesize first (make synth ENV={environment})")
        manifest = json.loads((self.directory / "manifest.json").read_text(encoding="utf-8"))
        self.environment = environment
        self.stacks: list[Stack] = []
        regions = set()
        for artifact in manifest["artifacts"].values():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            properties = artifact["properties"]
            template = json.loads((self.directory / properties["templateFile"]).read_text(encoding="utf-8"))
            assets_file = self.directory / properties["templateFile"].replace(".template.json", ".assets.json")
            assets = json.loads(assets_file.read_text(encoding="utf-8")) if assets_file.exists() else {}
            self.stacks.append(Stack(self, properties.get("stackName", artifact["displayName"]), template, assets))
            regions.add(artifact["environment"].rsplit("/", 1)[1])
        (self.region,) = regions

    # ------------------------------------------------------------------------------------------ lookups

    def resources(self, resource_type: str | None = None) -> Iterator[Resource]:
        for stack in self.stacks:
            yield from stack.resources(resource_type)

    def stack(self, name: str) -> Stack:
        return next(stack for stack in self.stacks if stack.name == name)

    def file_assets(self) -> list[FileAsset]:
        found = {}
        for stack in self.stacks:
            for asset in stack.assets.get("files", {}).values():
                source = asset["source"]
                if source["path"].endswith(".template.json"):
                    continue  # the templates themselves: CloudFormation reads them, nothing else does
                for destination in asset["destinations"].values():
                    bucket, key = (self._substitute(destination[k], stack) for k in ("bucketName", "objectKey"))
                    found[(bucket, key)] = FileAsset(
                        (self.directory / source["path"]).resolve(), source.get("packaging", "file"), bucket, key
                    )
        return list(found.values())

    def asset_at(self, bucket: str, key: str) -> FileAsset:
        return next(asset for asset in self.file_assets() if (asset.bucket, asset.key) == (bucket, key))

    # ------------------------------------------------------------------------------------------ intrinsics

    def resolve(self, value: Any, stack: Stack) -> Any:
        if isinstance(value, list):
            return [self.resolve(item, stack) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item, stack) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(argument, stack)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(stack.resource(logical_id), attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(part) for part in self.resolve(parts, stack))
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._substitute(text, stack, self.resolve(variables, stack))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items, stack)[int(self.resolve(index, stack))]
        if function == "Fn::Split":
            separator, text = argument
            return self.resolve(text, stack).split(separator)
        if function == "Fn::GetStackOutput":
            return self.stack(argument["StackName"]).output(argument["OutputName"])
        if function == "Fn::ImportValue":
            return self._import(self.resolve(argument, stack))
        if function.startswith("Fn::"):
            raise NotImplementedError(f"the twin does not resolve {function} (in {stack.name})")
        return {function: self.resolve(argument, stack)}

    def _ref(self, name: str, stack: Stack) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": stack.name,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in stack.template.get("Parameters", {}):
            return stack.template["Parameters"][name].get("Default")
        resource = stack.resource(name)
        if resource.type in ("AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"):
            return self._get_att(resource, "Arn")
        if resource.type == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.{URL_SUFFIX}/{ACCOUNT}/{resource.name}"
        if resource.type == "AWS::KMS::Key":
            return f"twin-key-{resource.logical_id.lower()}"
        return resource.name

    def _get_att(self, resource: Resource, attribute: str) -> str:
        region, name = self.region, resource.name
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{region}:{ACCOUNT}:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{ACCOUNT}:{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{ACCOUNT}:key/twin-key-{resource.logical_id.lower()}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}",
            "AWS::SageMaker::ModelPackageGroup": f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package-group/{name}",
            "AWS::SageMaker::Pipeline": f"arn:aws:sagemaker:{region}:{ACCOUNT}:pipeline/{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}:*",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{ACCOUNT}:rule/{name}",
        }
        if attribute in ("Arn", "ModelPackageGroupArn", "PipelineArn") and resource.type in arns:
            return arns[resource.type]
        if attribute in ("Name", "QueueName", "TopicName", "TableName"):
            return name
        if attribute == "QueueUrl":
            return self._ref(resource.logical_id, resource.stack)
        if attribute == "RoleId":
            return f"AROA{resource.logical_id.upper()[:16]}"
        raise NotImplementedError(f"the twin does not resolve {resource.logical_id}.{attribute} ({resource.type})")

    def _import(self, export_name: str) -> Any:
        for stack in self.stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export")
                if export and self.resolve(export["Name"], stack) == export_name:
                    return self.resolve(output["Value"], stack)
        raise KeyError(f"no stack exports {export_name!r}")

    def _substitute(self, text: str, stack: Stack, variables: Mapping[str, Any] | None = None) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if variables and name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._get_att(stack.resource(logical_id), attribute)
            return str(self._ref(name, stack))

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, text)
