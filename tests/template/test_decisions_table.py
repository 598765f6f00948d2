"""The template's DecisionsTable and the table the code and the local stacks create are one table."""

from __future__ import annotations

from typing import Any

import pytest

from moderator.ledger import table_definition

pytestmark = pytest.mark.template


def _normalised(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        index["IndexName"]: {
            "keys": [(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]],
            "projection": index["Projection"]["ProjectionType"],
            "included": sorted(index["Projection"].get("NonKeyAttributes", [])),
        }
        for index in indexes
    }


def test_the_decisions_table_of_the_template_has_the_indexes_and_keys_the_ledger_queries(
    source_template: dict[str, Any],
) -> None:
    # GIVEN the template as written and the ledger's own CreateTable arguments
    table = source_template["Resources"]["DecisionsTable"]["Properties"]
    ours = table_definition("decisions")

    # WHEN their keys, attribute types and indexes are compared
    # THEN they are the same: the review page's by-status and by-day queries work on a deployed stack
    assert table["KeySchema"] == ours["KeySchema"]
    assert sorted(map(tuple, (d.values() for d in table["AttributeDefinitions"]))) == sorted(
        map(tuple, (d.values() for d in ours["AttributeDefinitions"]))
    )
    assert _normalised(table["GlobalSecondaryIndexes"]) == _normalised(ours["GlobalSecondaryIndexes"])
    assert set(_normalised(table["GlobalSecondaryIndexes"])) == {"by-status", "by-day"}
