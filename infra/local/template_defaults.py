"""The SAM template's parameter defaults: the local stack's settings come from there, not a copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags (!Sub, !Ref, !GetAtt, !If...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


@dataclass(frozen=True)
class TemplateDefaults:
    incoming_prefix: str
    quarantine_prefix: str
    function_timeout: int
    batch_size: int
    max_concurrency: int
    max_receive_count: int
    #: CONTENT_MEMORY and VERDICT_MEMORY_DAYS, as the deployed function gets them.
    content_memory: str
    verdict_memory_days: int

    @property
    def visibility_timeout(self) -> int:
        """Like the template: six times the function timeout, as AWS advises for SQS event sources."""
        return 6 * self.function_timeout


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return loaded


def template_defaults(path: Path = TEMPLATE) -> TemplateDefaults:
    """Read the parameter defaults; a missing parameter is an error worth seeing at once."""
    parameters = load_template(path).get("Parameters") or {}

    def default(name: str) -> Any:
        try:
            return parameters[name]["Default"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: parameter {name} has no Default") from exc

    return TemplateDefaults(
        incoming_prefix=str(default("IncomingPrefix")),
        quarantine_prefix=str(default("QuarantinePrefix")),
        function_timeout=int(default("FunctionTimeout")),
        batch_size=int(default("BatchSize")),
        max_concurrency=int(default("ImaggaMaxConcurrency")),
        max_receive_count=int(default("MaxReceiveCount")),
        content_memory=str(default("ContentMemory")),
        verdict_memory_days=int(default("VerdictMemoryDays")),
    )
