"""How the stacks of one environment refer to each other, both ways.

References between stacks are weak (`Fn::GetStackOutput`, cdk.json's `@aws-cdk/core:defaultCrossStackReferences`):
they are resolved each time the consuming stack deploys and never lock the producing stack, so a key or topic
that is replaced reaches its consumers: CDK names each output after the resource it publishes (its logical ID),
a replacement comes with a new logical ID (the resources referenced across stacks set no create-only property,
tests/infra/test_stack_references.py), so every consumer's template changes with it and `cdk deploy '<env>/*'`
redeploys the consumers right after the producer.

What weak references do not do is stop `cdk destroy dev/Data` (or a delete in the console) while other stacks
still use the key. `lock_while_used` adds that lock: an export of a constant from the producer, imported by the
consumer. CloudFormation refuses to delete a stack whose export another stack imports ("After another stack
imports an output value, you can't delete the stack that is exporting the output value or modify the exported
output value", CloudFormation reference, Fn::ImportValue); the value is the consumer's name and never changes, so
the export never blocks an update, the way strong references do when a referenced resource is replaced.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, Stack


def lock_export_name(producer: Stack, consumer: Stack) -> str:
    return f"{producer.stack_name}-used-by-{consumer.stack_name}"


def lock_while_used(producer: Stack, consumer: Stack) -> None:
    """`producer` cannot be deleted while `consumer` exists; `consumer` deploys after `producer`."""
    consumer.add_dependency(producer)
    export_name = lock_export_name(producer, consumer)
    CfnOutput(
        producer,
        f"UsedBy{consumer.node.id}",
        value=consumer.stack_name,
        export_name=export_name,
        description=f"Imported by {consumer.stack_name}: delete that stack first (cdk destroy deletes both in order)",
    )
    CfnOutput(
        consumer,
        f"Uses{producer.node.id}",
        value=Fn.import_value(export_name),
        description=f"Locks {producer.stack_name} while this stack uses its resources",
    )
