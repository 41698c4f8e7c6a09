"""User personas: how the simulated user feels and talks. Recorded in results for breakdowns."""

from __future__ import annotations

from pathlib import Path

PERSONAS: dict[str, str] = {
    "control": "You are calm and cooperative. You answer questions plainly and politely.",
    "frustration": (
        "You are frustrated: this is not the first time something went wrong with this company. You are short with "
        "the agent, sigh about delays and want the problem fixed quickly, but you still answer questions."
    ),
    "anxiety": (
        "You are anxious and worried that something will go wrong with your money or your request. You ask for "
        "reassurance, double-check details and sometimes repeat a question."
    ),
    "anger": (
        "You are angry about the situation. You are blunt and impatient and may complain, but you do not use "
        "abusive language and you still give the information the agent needs."
    ),
    "confusion": (
        "You are confused by the service and its jargon. You sometimes misunderstand the agent's questions, ask what words "
        "mean and need things explained simply, but you never invent facts."
    ),
}


def resolve_persona(name_or_path: str | None) -> tuple[str, str] | None:
    """``(name, text)`` for a built-in persona name or a text file; None for no persona.

    Raises ValueError naming the choices when the name is neither a persona nor a readable file.
    """
    if name_or_path is None:
        return None
    if name_or_path in PERSONAS:
        return name_or_path, PERSONAS[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"persona file {path} is empty")
        return path.stem, text
    raise ValueError(
        f"unknown persona {name_or_path!r}: use one of {', '.join(PERSONAS)} or a path to a text file"
    )
