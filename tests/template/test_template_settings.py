"""Every setting of the function is a stack parameter, described and constrained, and its default is the code's."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import pytest

from moderator import settings as settings_module
from moderator.errors import SettingsError
from moderator.settings import Settings

from .cfn import references, stack
from .conftest import ROOT

pytestmark = pytest.mark.template

#: Read by Settings but deliberately not deployable: local credentials (the stack uses the secret),
#: and a separate approvals table (the stack keeps approvals in the decisions ledger).
NOT_DEPLOYED = {"IMAGGA_API_KEY", "IMAGGA_API_SECRET", "APPROVALS_TABLE"}
#: Set from resources of the stack rather than from a parameter alone.
FROM_RESOURCES = {
    "IMAGGA_SECRET_ARN": "ImaggaSecret",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
    "DECISIONS_TABLE": "DecisionsTable",
    "ALERT_TOPIC_ARN": "AlertTopic",
    "BUDGET_TABLE": "BudgetTable",
    "BACKFILL_QUEUE_URL": "BackfillQueue",
}
FAKE_RESOURCE_VALUES = {
    "ImaggaSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:imagga-AbCdEf",
    "IdempotencyTable": "stack-IdempotencyTable-ABC",
    "DecisionsTable": "stack-DecisionsTable-ABC",
    "AlertTopic": "arn:aws:sns:us-east-1:123456789012:stack-AlertTopic-ABC",
    "BudgetTable": "stack-BudgetTable-ABC",
    "BackfillQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/stack-BackfillQueue-ABC",
}
#: Parameters that turn on the function's optional settings.
OPTIONAL_SETTINGS_ON = {
    "QuarantineBucketName": "example-corp-quarantine",
    "QuarantineKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab",
}
#: Settings fields that stack resources fill, so their values differ from the code's defaults.
FILLED_BY_THE_STACK = {
    "imagga_secret_arn",
    "idempotency_table",
    "decisions_table",
    "approvals_table",
    "event_bus_name",
    "alert_topic_arn",
    "budget_table",
    "backfill_queue_url",
}


def settings_variables() -> set[str]:
    """Every environment variable Settings.from_env reads, taken from its source."""
    source = (ROOT / "functions" / "moderator" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r'reader\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))


def function_environment(rendered: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    variables: dict[str, Any] = stack(rendered, overrides)["Resources"]["ModeratorFunction"]["Properties"][
        "Environment"
    ]["Variables"]
    return variables


def environment_from_parameters(rendered: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The function's environment as the stack would set it, resources replaced by made-up names."""
    deployed = stack(rendered, overrides)
    parameters = deployed["Parameters"]
    env: dict[str, str] = {}
    for name, value in deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"].items():
        if isinstance(value, str):
            env[name] = value
            continue
        ((ref,),) = [list(references(value))]
        env[name] = parameters[ref] if ref in parameters else FAKE_RESOURCE_VALUES[ref]
    return env


def test_settings_module_is_read_as_expected() -> None:
    # GIVEN the settings source
    # WHEN its variables are collected
    found = settings_variables()

    # THEN the collection sees the names the module is known to read (the other tests rely on it)
    assert {"IMAGGA_API_ENDPOINT", "UNSAFE_THRESHOLD", "MAX_RECEIVE_COUNT", "ALERT_TOPIC_ARN"} <= found
    assert settings_module.Settings is Settings


def test_every_function_setting_is_wired_into_the_template(rendered: dict[str, Any]) -> None:
    # GIVEN the variables Settings reads and the ones the template sets (optional ones turned on)
    wanted = settings_variables() - NOT_DEPLOYED
    env = function_environment(rendered, OPTIONAL_SETTINGS_ON)

    # WHEN they are compared
    missing = wanted - set(env)
    unknown = {name for name in env if not name.startswith("POWERTOOLS_")} - settings_variables()

    # THEN the template sets every deployable setting and nothing the function does not read
    assert missing == set()
    assert unknown == set()
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"} <= set(env)


def test_every_setting_comes_from_a_parameter_or_a_resource_of_the_stack(rendered: dict[str, Any]) -> None:
    # GIVEN the function's environment with every option the template has turned on
    env = function_environment(rendered, OPTIONAL_SETTINGS_ON)
    parameters = rendered["Parameters"]

    # WHEN each value's references are read
    sources = {name: set(references(value)) for name, value in env.items() if not name.startswith("POWERTOOLS_")}

    # THEN each names a parameter, or (for the secret, the table and the topic) the resource the stack made
    for name, refs in sources.items():
        if name in FROM_RESOURCES:
            assert refs & {FROM_RESOURCES[name], *parameters}, name
        else:
            assert len(refs) == 1 and refs <= set(parameters), name


def test_every_parameter_has_a_description_and_a_constraint(rendered: dict[str, Any]) -> None:
    # GIVEN the template's parameters
    parameters = rendered["Parameters"]

    # WHEN each is checked for a description and allowed values, a range or a pattern
    unconstrained = [
        name
        for name, spec in parameters.items()
        if not ({"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & set(spec))
    ]
    undescribed = [name for name, spec in parameters.items() if len(spec.get("Description", "")) < 10]

    # THEN none is left free-form or unexplained
    assert unconstrained == [] and undescribed == []


def test_template_defaults_are_valid_settings_equal_to_the_codes_defaults(rendered: dict[str, Any]) -> None:
    # GIVEN the environment a default deployment gives the function
    env = environment_from_parameters(rendered)

    # WHEN the function reads it
    deployed = Settings.from_env(env)

    # THEN nothing is rejected, and every value not filled by the stack is the code's own default
    defaults = Settings()
    differing = [
        f.name
        for f in fields(Settings)
        if f.name not in FILLED_BY_THE_STACK and getattr(deployed, f.name) != getattr(defaults, f.name)
    ]
    assert differing == []
    assert deployed.imagga_secret_arn == FAKE_RESOURCE_VALUES["ImaggaSecret"]
    assert deployed.idempotency_table == FAKE_RESOURCE_VALUES["IdempotencyTable"]
    assert deployed.decisions_table == deployed.approvals_table == FAKE_RESOURCE_VALUES["DecisionsTable"]


def _choices(rendered: dict[str, Any]) -> list[tuple[str, str]]:
    cases = []
    for name, spec in rendered["Parameters"].items():
        for value in spec.get("AllowedValues", []):
            cases.append((name, str(value)))
        for bound in ("MinValue", "MaxValue"):
            if bound in spec:
                cases.append((name, str(spec[bound])))
    return cases


def test_every_allowed_value_and_bound_of_a_parameter_is_accepted_by_the_function(rendered: dict[str, Any]) -> None:
    # GIVEN each allowed value, minimum and maximum of each parameter
    cases = _choices(rendered)

    # WHEN the function reads an environment built with that one value
    rejected = []
    for name, value in cases:
        try:
            Settings.from_env(environment_from_parameters(rendered, {name: value}))
        except SettingsError as exc:
            rejected.append(f"{name}={value}: {exc}")

    # THEN the function accepts everything CloudFormation lets through
    assert len(cases) > 30
    assert rejected == []


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("ResizeShortSide", "0", True),
        ("ResizeShortSide", "32", True),
        ("ResizeShortSide", "10000", True),
        ("ResizeShortSide", "31", False),
        ("ResizeShortSide", "10001", False),
        ("QuarantineStatuses", "UNSAFE,REVIEW", True),
        ("QuarantineStatuses", "SAFE", False),
        ("QuarantinePrefix", "quarantine", False),
        ("QuarantinePrefix", "/quarantine/", False),
        ("ImaggaApiEndpoint", "http://api.imagga.com/v2", False),
    ],
)
def test_pattern_parameters_let_through_exactly_what_the_function_accepts(
    rendered: dict[str, Any], parameter: str, value: str, accepted: bool
) -> None:
    # GIVEN a parameter constrained by a pattern, and a value
    pattern = rendered["Parameters"][parameter]["AllowedPattern"]

    # WHEN CloudFormation matches it (the whole value), and the function reads it
    matches = re.fullmatch(pattern, value) is not None
    try:
        Settings.from_env(environment_from_parameters(rendered, {parameter: value}))
        valid = True
    except SettingsError:
        valid = False

    # THEN the template accepts what the function accepts, except an http endpoint meant only for local servers
    assert matches is accepted
    if parameter != "ImaggaApiEndpoint":
        assert valid is accepted
