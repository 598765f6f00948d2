"""Small readers of a rendered CloudFormation template: conditions, Fn::If, and references.

Enough CloudFormation to ask "what does this stack contain for these parameter values?" and
"which resource needs which?", without an AWS account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}
_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")
#: Pseudo parameters as a stack in us-east-1 of account 123456789012 would see them.
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "imagga-s3-moderator",
    "AWS::StackId": (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/imagga-s3-moderator/0a1b2c3d-4e5f-6789-abcd-0123456789ab"
    ),
}


def evaluate(node: Any, parameters: Mapping[str, str]) -> Any:
    """A value as CloudFormation computes it from parameters and pseudo parameters: Ref, Fn::Sub,
    Fn::Select, Fn::Split, Fn::Join. A reference to a resource stays as written (`{"Ref": ...}`,
    `{"Fn::GetAtt": ...}`, `${Bucket.Arn}` inside a Sub)."""
    if isinstance(node, list):
        return [evaluate(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1 or not (set(node) <= {"Ref"} or next(iter(node)).startswith("Fn::")):
        return {key: evaluate(value, parameters) for key, value in node.items()}
    ((function, args),) = node.items()
    if function == "Ref":
        if args in parameters:
            return parameters[args]
        return PSEUDO.get(args, node)
    if function == "Fn::Sub":
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
        values = {name: evaluate(value, parameters) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            found = values.get(name, parameters.get(name, PSEUDO.get(name)))
            return str(found) if isinstance(found, str) else match.group(0)

        return _SUB_NAME.sub(substitute, text)
    if function == "Fn::Select":
        index, items = evaluate(args[0], parameters), evaluate(args[1], parameters)
        return items[int(index)]
    if function == "Fn::Split":
        return str(evaluate(args[1], parameters)).split(args[0])
    if function == "Fn::Join":
        return args[0].join(str(item) for item in evaluate(args[1], parameters))
    return node


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value as CloudFormation would pass it: the default unless overridden, as text."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(overrides or {})
    return values


def evaluate_conditions(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, bool]:
    definitions = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        return evaluate(node, parameters)

    def truth(node: Any) -> bool:
        if isinstance(node, dict):
            ((function, args),) = node.items()
            if function == "Condition":
                return condition(args)
            if function == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if function == "Fn::Not":
                return not truth(args[0])
            if function == "Fn::And":
                return all(truth(arg) for arg in args)
            if function == "Fn::Or":
                return any(truth(arg) for arg in args)
        raise ValueError(f"unsupported condition {node!r}")

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = truth(definitions[name])
        return results[name]

    for name in definitions:
        condition(name)
    return results


def resolve(node: Any, conditions: Mapping[str, bool]) -> Any:
    """The node with every Fn::If decided and every AWS::NoValue removed; other intrinsics kept."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        resolved = {key: resolve(value, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}
    if isinstance(node, list):
        items = [resolve(item, conditions) for item in node]
        return [item for item in items if item != NO_VALUE]
    return node


def stack(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resources and outputs that exist for these parameter values, with Fn::If decided."""
    parameters = parameter_values(template, overrides)
    conditions = evaluate_conditions(template, parameters)

    def present(section: str) -> dict[str, Any]:
        kept = {}
        for name, body in template.get(section, {}).items():
            if "Condition" in body and not conditions[body["Condition"]]:
                continue
            kept[name] = resolve(body, conditions)
        return kept

    return {"Parameters": parameters, "Resources": present("Resources"), "Outputs": present("Outputs")}


def references(node: Any) -> Iterator[str]:
    """Names a node refers to through Ref, Fn::GetAtt, Fn::Sub (${Name} / ${Name.Attr}) and Condition-free If."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else str(value).split(".")[0]
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                for name in _SUB_NAME.findall(text):
                    if name not in variables:
                        yield name.split(".")[0]
                yield from references(variables)
            elif key == "Fn::If":
                for branch in value[1:]:
                    yield from references(branch)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def dependency_graph(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """resource -> the resources it needs (Ref / GetAtt / Sub / DependsOn), every Fn::If branch included."""
    resources = template["Resources"]
    graph: dict[str, set[str]] = {}
    for name, body in resources.items():
        needs = {ref for ref in references(body.get("Properties", {})) if ref in resources}
        depends_on = body.get("DependsOn", [])
        needs.update([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[name] = needs
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One dependency cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for needed in sorted(graph.get(node, ())):
            if state.get(needed) == 1:
                return [*path[path.index(needed) :], needed]
            if needed not in state:
                found = visit(needed)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def statements(policy_document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy_document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
