"""Tool declaration: schemas derived from signatures and docstrings; calls never raise."""

from __future__ import annotations

from typing import Literal

import pytest

from casework.domains import Database, State, Toolbox, ToolError, ToolKind, tool


@tool(ToolKind.WRITE)
def set_colour(
    db: State, item_id: str, colour: Literal["red", "blue"], count: int = 1, tags: list[str] | None = None
) -> dict:
    """Set the colour of an item.

    Args:
        item_id: The item id, such as '42'.
        colour: The new colour.
        count: How many to paint.
        tags: Optional labels.
    """
    if item_id not in db["items"]:
        raise ToolError("item not found")
    record = db["items"].edit(item_id)
    record["colour"] = colour
    return record


@tool(ToolKind.GENERIC)
def explode(db: State) -> str:
    """Always fails with an unexpected exception."""
    raise RuntimeError("boom")


@pytest.fixture()
def box() -> Toolbox:
    return Toolbox([set_colour, explode])


@pytest.fixture()
def state() -> State:
    return Database({"items": {"42": {"colour": "red"}}}).fork()


def test_schema_is_derived_from_signature_and_docstring(box):
    schema = box["set_colour"].openai_schema()
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "set_colour" and fn["description"] == "Set the colour of an item."
    params = fn["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["item_id", "colour"]
    assert params["properties"]["colour"]["enum"] == ["red", "blue"]
    assert params["properties"]["item_id"] == {"type": "string", "description": "The item id, such as '42'."}
    assert params["properties"]["count"]["type"] == "integer"
    assert "title" not in str(params)
    assert box["explode"].parameters["required"] == [] and box["explode"].kind == ToolKind.GENERIC


def test_successful_call_returns_json_and_writes_the_fork(box, state):
    assert box.call(state, "set_colour", {"item_id": "42", "colour": "blue"}) == '{"colour": "blue"}'
    assert state["items"]["42"]["colour"] == "blue"
    assert state.base.tables["items"]["42"]["colour"] == "red"


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("nope", {}, "Error: unknown tool 'nope'"),
        ("set_colour", {"colour": "red"}, "missing required argument 'item_id'"),
        ("set_colour", {"item_id": "42", "colour": "red", "x": 1}, "unexpected argument 'x'"),
        ("set_colour", {"item_id": "42", "colour": "green"}, "argument 'colour'"),
        ("set_colour", {"item_id": 42, "colour": "red"}, "argument 'item_id'"),
        ("set_colour", {"item_id": "42", "colour": "red", "tags": "a"}, "argument 'tags'"),
        ("set_colour", '{"item_id": "42", ', "not valid JSON"),
        ("set_colour", "[1, 2]", "must be a JSON object"),
        ("set_colour", {"item_id": "7", "colour": "red"}, "Error: item not found"),
        ("explode", {}, "Error: boom"),
    ],
)
def test_bad_calls_become_error_observations(box, state, name, arguments, expected):
    observation = box.call(state, name, arguments)
    assert observation.startswith("Error:")
    assert expected in observation


def test_arguments_as_json_text_are_accepted(box, state):
    assert box.call(state, "set_colour", '{"item_id": "42", "colour": "blue"}') == '{"colour": "blue"}'


def test_undocumented_parameter_is_rejected_at_declaration():
    @tool(ToolKind.READ)
    def undocumented(db: State, x: str) -> str:
        """Has no Args section."""
        return x

    with pytest.raises(TypeError, match="not described"):
        Toolbox([undocumented])
