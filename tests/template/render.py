"""Print template.yaml as CloudFormation after the SAM transform, offline, as JSON.

Runs with the SAM CLI's own virtualenv (.venv-sam), which has samtranslator; the dev venv does
not (its pinned pydantic conflicts). Usage: render.py TEMPLATE [PARAMETERS_JSON].
Parameter values given here decide nothing but what SAM resolves itself; conditions stay in
the output for the tests to evaluate.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy; SAM's own execution policies need no lookup."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> None:
    """What `sam package` does before CloudFormation sees the template: local code becomes an S3 URI."""
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith(
            "s3://"
        ):
            properties["CodeUri"] = "s3://sam-artifacts-example/moderator.zip"


def main(argv: list[str]) -> int:
    template: dict[str, Any] = yaml_parse(Path(argv[1]).read_text(encoding="utf-8"))
    parameters = json.loads(argv[2]) if len(argv) > 2 else {}
    packaged(template)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    rendered = transform(template, parameters, NoManagedPolicies())  # type: ignore[arg-type]
    json.dump(rendered, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
