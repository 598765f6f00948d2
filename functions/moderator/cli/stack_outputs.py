"""A deployed stack's outputs (CloudFormation DescribeStacks): what a command needs to act within it."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from .runtime import Runtime

#: Outputs template.yaml defines for the operator commands.
BACKFILL_QUEUE_URL = "BackfillQueueUrl"
FUNCTION_ARN = "FunctionArn"
BATCH_OPERATIONS_ROLE_ARN = "BatchOperationsRoleArn"
BATCH_OPERATIONS_BUCKET = "BatchOperationsBucketName"
BUDGET_TABLE = "BudgetTableName"


@dataclass(frozen=True)
class StackOutputs:
    name: str
    #: The account and region the stack lives in, from its StackId ARN.
    account: str
    region: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    def need(self, key: str) -> str:
        from .main import EXIT_SETUP, ExpectedError

        value = self.outputs.get(key)
        if not value:
            raise ExpectedError(
                f"stack {self.name} has no output {key}: deploy this version of template.yaml to it", EXIT_SETUP
            )
        return value


def read_stack(runtime: Runtime, name: str) -> StackOutputs:
    from .main import EXIT_SETUP, ExpectedError

    try:
        stacks = runtime.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise ExpectedError(f"no stack named {name} in this account and region", EXIT_SETUP) from exc
        raise ExpectedError(f"reading stack {name} failed: {error.get('Code') or exc}", EXIT_SETUP) from exc
    except BotoCoreError as exc:
        raise ExpectedError(f"reading stack {name} failed: {exc}", EXIT_SETUP) from exc
    stack = stacks[0]
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
    parts = str(stack["StackId"]).split(":")
    outputs = {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])}
    parameters = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in stack.get("Parameters", [])}
    account, region = (parts[4], parts[3]) if len(parts) > 4 else ("", "")
    return StackOutputs(name, account, region, outputs, parameters)
