"""The limits SageMaker documents for a pipeline definition, each with the page it is on and the sentence it quotes.

pipeline_definition_check.py checks a definition against them; a violation names its rule, quote and page. Where
the quoted sentence is from the developer guide's own source (awsdocs/amazon-sagemaker-developer-guide, doc_source/,
archived June 2023) the live page is named beside it; the nested-condition limitation is quoted from the live page
in issue 19.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

STEP_TYPES_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps-types.html"
STEPS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html"
SCHEMA_PAGE = "https://aws-sagemaker-mlops.github.io/sagemaker-model-building-pipeline-definition-JSON-schema/"
SDK_PIPELINES_PAGE = "https://sagemaker.readthedocs.io/en/stable/workflows/pipelines/sagemaker.workflow.pipelines.html"


@dataclass(frozen=True)
class Rule:
    name: str
    page: str
    quote: str


DEFINITION_SIZE = Rule(
    "definition-size",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePipeline.html",
    "PipelineDefinition: The JSON pipeline definition of the pipeline. Type: String. Length Constraints: "
    "Minimum length of 1. Maximum length of 1048576.",
)
MAX_DEFINITION_LENGTH = 1_048_576

VERSION = Rule(
    "definition-version",
    SCHEMA_PAGE,
    'Version: {"type": "string", "enum": ["2020-12-01"]} (the pipeline definition JSON schema, which the '
    "developer guide's Pipelines overview names as the definition's format)",
)
DEFINITION_VERSION = "2020-12-01"

STEP_NAME = Rule(
    "step-name",
    SCHEMA_PAGE,
    'StepName: {"type": "string", "pattern": "^[A-Za-z0-9\\-_]{1,64}$"} (pipeline definition JSON schema)',
)
PARAMETER_NAME = Rule(
    "parameter-name",
    SCHEMA_PAGE,
    'ParameterName: {"type": "string", "pattern": "^[A-Za-z0-9\\-_]{1,64}$"} (pipeline definition JSON schema)',
)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")

PARAMETER_TYPE = Rule(
    "parameter-type",
    SCHEMA_PAGE,
    'StringParameter, IntegerParameter, FloatParameter, BooleanParameter: "Type": {"enum": ["String"]} (or '
    '"Integer", "Float", "Boolean"; only a String parameter may leave it out), "DefaultValue": {"type": "string", '
    '"maxLength": 4096} (or "integer", "number", "boolean"), "Description": {"maxLength": 4096} (pipeline '
    "definition JSON schema)",
)
# Each parameter type and the JSON type its DefaultValue must have.
PARAMETER_DEFAULT_TYPES: Mapping[str, tuple[type, ...]] = {
    "String": (str,),
    "Integer": (int,),
    "Float": (int, float),
    "Boolean": (bool,),
}
MAX_PARAMETER_TEXT = 4096

UNIQUE_STEP = Rule(
    "unique-step-name",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-troubleshooting.html",
    "You can only include steps in a pipeline definition once. Because of this, steps cannot exist as part of a "
    "condition step and a pipeline in the same pipeline. (Troubleshooting, Pipeline Definition Issues; and the "
    "SDK's FailStep: 'A name is required and must be unique within a pipeline.')",
)
NESTED_CONDITION = Rule(
    "nested-condition-step",
    f"{STEP_TYPES_PAGE}#step-type-condition",
    "Pipelines doesn't support the use of nested condition steps. You can't pass a condition step as the "
    "input for another condition step. (Condition step, Limitations)",
)
SAME_STEP_IN_BOTH_BRANCHES = Rule(
    "same-step-in-both-branches",
    f"{STEP_TYPES_PAGE}#step-type-condition",
    "A condition step can't use identical steps in both branches. If you need the same step functionality in "
    "both branches, duplicate the step and give it a different name. (Condition step, Limitations)",
)
UNDEFINED_PARAMETER = Rule(
    "undefined-parameter",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-pipeline.html",
    "All parameters used in step definitions must be defined in the pipeline. (Pipeline Structure)",
)
UNKNOWN_DEPENDENCY = Rule(
    "unknown-step-in-depends-on",
    SDK_PIPELINES_PAGE,
    "depends_on (List[str] or List[Step]): A list of Step names or Step instances that this FailStep depends "
    "on. If a listed Step name does not exist, an error is returned. (SageMaker Python SDK, FailStep)",
)
FAIL_STEP_DEPENDENCY = Rule(
    "fail-step-in-depends-on",
    f"{STEP_TYPES_PAGE}#step-type-fail",
    "You cannot add a FailStep to the DependsOn list of other steps. (Limitations for using FailStep)",
)
FAIL_STEP_REFERENCE = Rule(
    "fail-step-referenced",
    f"{STEP_TYPES_PAGE}#step-type-fail",
    "Other steps cannot reference the FailStep. It is always the last step in a pipeline's execution. "
    "(Limitations for using FailStep)",
)
UNKNOWN_STEP_REFERENCE = Rule(
    "reference-to-unknown-step",
    f"{STEPS_PAGE}#build-and-manage-data-dependency",
    "To create data dependencies between steps, pass the properties of one step as the input to another step "
    "in the pipeline. The step receiving the input isn't started until after the step providing the input "
    "finishes running. (Data Dependency Between Steps: a property of a step the pipeline does not have never "
    "resolves)",
)
REFERENCE_ACROSS_BRANCHES = Rule(
    "reference-to-step-not-upstream",
    SDK_PIPELINES_PAGE,
    "If all the conditions in the condition list evaluate to True, the if_steps are marked as ready for "
    "execution. Otherwise, the else_steps are marked as ready for execution. (SageMaker Python SDK, "
    "ConditionStep; with 'The step receiving the input isn't started until after the step providing the input "
    f"finishes running', {STEPS_PAGE}#build-and-manage-data-dependency: a step in a branch runs only when "
    "its branch is taken, so only a step that runs in that branch too may read its properties)",
)
CYCLE = Rule(
    "cyclic-dependency",
    f"{STEPS_PAGE}#build-and-manage-custom-dependency",
    "SageMaker Pipelines throws a validation exception if the dependency would create a cyclic dependency. "
    "(Custom Dependency Between Steps)",
)
PROPERTY_FILE = Rule(
    "property-file",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-propertyfile.html",
    "Any output_name must match the output_name of the ProcessingOutput that you define in your processing "
    "step. [...] add the property_files parameter to list all of the parameter files that the Amazon SageMaker "
    "Model Building Pipelines service must index. (Property Files and JsonGet)",
)
