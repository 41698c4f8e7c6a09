"""Words for templated instructions: personas, openings, closings and ways to describe records.

Everything here is plain data plus small pure functions that take a ``random.Random``, so the
templated generator stays deterministic for a seed. Phrases are written in the second person, as
the instruction the simulated user follows ("You are ...; you want ...").
"""

from __future__ import annotations

import random
from typing import Any

#: (persona label, sentence appended to the instruction). The label is stored in ``Task.persona``.
PERSONAS: tuple[tuple[str, str], ...] = (
    ("polite", "You are polite and patient, and you thank the agent for their help."),
    ("busy", "You are in a hurry and answer in short sentences."),
    ("detail_oriented", "You are meticulous and double-check every detail the agent tells you."),
    ("anxious", "You are a little anxious and want the agent to confirm each step."),
    ("casual", "You write casually, in lowercase, without much punctuation."),
    ("direct", "You are direct and say exactly what you want, nothing more."),
    ("chatty", "You are chatty and mention a little about why you need this."),
    ("skeptical", "You are skeptical and ask the agent to explain before you agree to anything."),
    ("non_native", "English is not your first language; you use simple words."),
    ("frustrated", "You are frustrated by an earlier bad experience but stay civil."),
)

OPENINGS_EMAIL = (
    "You are {name}, and your email is {email}.",
    "Your name is {name}; the email on your account is {email}.",
    "You are {name} (email: {email}).",
    "As {name}, you contact customer service; your email address is {email}.",
)
OPENINGS_NAME_ZIP = (
    "You are {name} and your zip code is {zip}.",
    "Your name is {name} and you live in zip code {zip}.",
    "You are {name}, zip code {zip}. You do not remember your email address.",
    "As {name} (zip {zip}), you contact customer service; you cannot recall which email you used.",
)

CLOSINGS = (
    "",
    "Once that is done, end the conversation.",
    "Do not share more information than the agent asks for.",
    "If the agent asks you to confirm, say yes.",
)

REFUSAL_CLOSINGS = (
    "If the agent says this is not possible, accept it and end the conversation without asking for anything else.",
    "If the agent refuses, do not insist and do not ask for any alternative.",
    "You do not want any other change; if it cannot be done, thank the agent and leave.",
)

CANCEL_REASON_PHRASES = {
    "no longer needed": (
        "you no longer need it",
        "you do not need it anymore",
        "your plans changed and you no longer need it",
    ),
    "ordered by mistake": (
        "you ordered it by mistake",
        "you placed it by accident",
        "it was a mistake to order it",
    ),
}

STREETS = (
    "Maple Street",
    "Cedar Avenue",
    "Lake Road",
    "Hill Street",
    "River Lane",
    "Oak Drive",
    "Elm Court",
    "Pine Way",
)
CITIES = (
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Seattle", "WA", "981"),
    ("Boston", "MA", "021"),
    ("Chicago", "IL", "606"),
    ("Phoenix", "AZ", "850"),
    ("Portland", "OR", "972"),
    ("Columbus", "OH", "432"),
)


def person_name(user: dict[str, Any]) -> str:
    return f"{user['name']['first_name']} {user['name']['last_name']}"


def opening(rng: random.Random, user: dict[str, Any], by_email: bool) -> str:
    templates = OPENINGS_EMAIL if by_email else OPENINGS_NAME_ZIP
    return rng.choice(templates).format(
        name=person_name(user), email=user["email"], zip=user["address"]["zip"]
    )


def options_text(options: dict[str, Any]) -> str:
    """``{"color": "red", "size": "M"}`` -> ``"color red, size M"``."""
    return ", ".join(f"{key} {value}" for key, value in options.items())


def item_text(item: dict[str, Any], with_options: bool = True) -> str:
    name = item["name"].lower()
    return f"the {name} ({options_text(item['options'])})" if with_options else f"the {name}"


def join_items(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def payment_text(method: dict[str, Any]) -> str:
    """How a user names one of their payment methods (enough for the agent to pick the right one)."""
    source = method.get("source")
    if source == "credit_card":
        brand = str(method.get("brand", "credit")).title()
        return f"your {brand} credit card ending in {method.get('last_four', '????')}"
    if source == "gift_card":
        return f"your gift card ({method['id']})"
    if source == "paypal":
        return "your PayPal account"
    return f"your payment method {method['id']}"


def new_address(rng: random.Random) -> dict[str, str]:
    city, state, zip3 = rng.choice(CITIES)
    second = rng.choice(("", f"Apt {rng.randint(1, 99)}", f"Suite {rng.randint(100, 999)}"))
    return {
        "address1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
        "address2": second,
        "city": city,
        "state": state,
        "country": "USA",
        "zip": f"{zip3}{rng.randint(0, 99):02d}",
    }


def address_text(address: dict[str, str]) -> str:
    second = f", {address['address2']}" if address["address2"] else ""
    return f"{address['address1']}{second}, {address['city']}, {address['state']} {address['zip']}, {address['country']}"
