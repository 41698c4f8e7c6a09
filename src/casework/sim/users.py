"""Simulated users: an LLM playing the task's instruction, or a deterministic scripted user.

A user sees only the agent's text messages, never its tool calls or their results. It ends the
conversation by saying ``###STOP###`` (goal met), ``###TRANSFER###`` (it was transferred) or
``###OUT-OF-SCOPE###`` (its instruction lacks what the agent asks for); the tokens are recognised
with stray spaces and in any case (``### stop###``). No user ends the conversation before the agent
has spoken; an end for no reason of the user's own (an empty model reply, a scripted user that gives
up) is marked ``abnormal`` on the reply and counted by runs.

Dual control (:meth:`UserSimulator.bind_tools`): the LLM user gets the device tools as function
schemas, calls them when the agent asks it to do or check something on its phone, and answers from
their results; the scripted user performs the task's user-side golden actions when asked
(:meth:`ScriptedUser.device_action` states the rule).

The scripted user never reads out its instruction: :func:`read_instruction` sorts the sentences of
an instruction (identity, request, background, persona, conversation instructions, conditionals;
tau2-style sections by their headings) and the user says requests and background in the first
person (:func:`first_person`), answers from the rest, and never says persona or conversation
instructions. Nothing here knows a domain: what an agent may ask about comes from the domain's
:attr:`~casework.domains.UserModel.askable` and id prefixes.
"""

from __future__ import annotations

import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from casework.domains import UserFacts
from casework.sim.types import Termination, UserReply, user_stop_reason
from casework.tasks.model import Task

if TYPE_CHECKING:
    from casework.domains import Domain

GREETING = "Hi! How can I help you today?"


class UserSimulator(ABC):
    """A simulated customer. The harness calls :meth:`bind_domain` once, then :meth:`reset` per task.

    A reply that ends the conversation for a reason other than the user's own decision (an empty
    model reply, a scripted user that gives up) carries ``abnormal`` (why); runs count them.
    A user simulator must not end the conversation before the agent has spoken.
    """

    name = "user"
    domain: Domain | None = None

    #: the user's device tools (OpenAI schemas) and how to run one (dual-control domains)
    device_tools: list[dict[str, Any]] = []
    device_call: Callable[[str, Any], str] | None = None

    def bind_domain(self, domain: Domain) -> None:
        """The domain the simulation runs in (its user vocabulary and id formats)."""
        self.domain = domain

    def bind_tools(self, tools: list[dict[str, Any]], call: Callable[[str, Any], str]) -> None:
        """The tools that act on the user's own device (OpenAI schemas) and ``call(name, arguments)``,
        which runs one on the simulation's state, records it (``requestor="user"``) and returns the
        observation. Called after :meth:`bind_domain` in dual-control domains only."""
        self.device_tools = list(tools)
        self.device_call = call

    @property
    def device_tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.device_tools]

    @abstractmethod
    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None: ...

    @abstractmethod
    async def first_message(self) -> UserReply: ...

    @abstractmethod
    async def respond(self, agent_message: str) -> UserReply: ...

    def snapshot(self) -> Any:
        """The simulator's conversation state, to :meth:`restore` later (sampling several candidate
        turns from the same point: :mod:`casework.sim.best_of_n`)."""
        raise NotImplementedError(f"the {self.name} user simulator cannot be rewound")

    def restore(self, snapshot: Any) -> None:
        raise NotImplementedError(f"the {self.name} user simulator cannot be rewound")


# Object positions: "asks you", "for you" -> "me"; everywhere else "you" is the subject -> "I".
_OBJECT_OF = (
    r"to|for|with|at|from|about|of|by|on|into|onto|than|ask|asks|asked|tell|tells|told|give|gives|gave|"
    r"send|sends|sent|let|lets|help|helps|helped|show|shows|showed|offer|offers|offered|charge|charges|"
    r"charged|refund|refunds|refunded|call|calls|called|contact|contacts|contacted|remind|"
    r"reminds|assure|assures|sell|sold|ship|shipped|owe|owes|allow|allows|allowed|bother|bothers|cost|"
    r"costs|get|gets|got|confuse|confuses|confused|put|puts|transfer|transfers|transferred|want|wants"
)
_FIRST_PERSON = [
    (r"\b[Yy]our name is\b", "my name is"),
    (r"\b[Yy]ou are\b", "I am"),
    (r"\b[Yy]ou were\b", "I was"),
    (r"\b[Yy]ou're\b", "I'm"),
    (r"\b[Yy]ou've\b", "I've"),
    (r"\b[Yy]ou'd\b", "I'd"),
    (r"\b[Yy]ou'll\b", "I'll"),
    (r"\b[Yy]ourself\b", "myself"),
    (r"\b[Yy]ours\b", "mine"),
    (r"\b[Yy]our\b", "my"),
    (rf"\b({_OBJECT_OF})\s+you\b", r"\1 me"),
    (r"\b[Yy]ou\b", "I"),
]


def first_person(instruction: str) -> str:
    """Turn second-person instruction text into the customer's own words.

    "You want", "you've", "your" become "I want", "I've", "my"; "you" after a verb or preposition
    that takes an object ("asks you", "for you") becomes "me", so the grammar stays right.
    """
    text = instruction
    for pattern, replacement in _FIRST_PERSON:
        text = re.sub(pattern, replacement, text)
    return re.sub(r"(^|[.!?]\s+)my\b", lambda m: m.group(1) + "My", text)


# --------------------------------------------------------------------------- reading an instruction

_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[A-Z#'\"(\[{])")
_LINKER = re.compile(
    r"^(?:first|then|next|also|finally|after that|afterwards|lastly|additionally)\s*,?\s+", re.I
)
_FOR_PREFIX = re.compile(r"^((?:for|in|on|about|regarding|with)\s+[^,]{1,80},\s*)", re.I)
#: the customer states a wish: "you want", "you'd like", "and need" ("why you need" is no wish)
_DESIRE = re.compile(
    r"(?<!why )(?<!how )(?<!what )\b(?:you|you'd|you'll|and|but|so|also|simply|just|still|really|now|only|to|I|I'd)"
    r"\s+(?:also\s+|really\s+|just\s+|simply\s+|still\s+|only\s+|eventually\s+)?"
    r"(?:want|wants|wanna|wish|need|needs|would like|like to|prefer|hope|plan|intend)\b",
    re.I,
)
#: talk about the conversation itself: never said to the agent
_META_WORDS = re.compile(
    r"\bagent\b|\bconversation\b|\bsay (?:yes|no)\b|###|\binstruction|\bpretend\b|\btry (?:to|your)\b|"
    r"\bchange your mind\b|\bdecide\b|\binitially\b|\bin the end\b|\bindecisive\b|\bthreaten\b|\binsist\b",
    re.I,
)
_CONDITIONAL = re.compile(r"^(?:if|when|whenever|once|unless|in case|should|as soon as|only if)\b", re.I)
#: imperative verbs that steer the conversation rather than ask for something
_CONTROL_VERBS = frozenset(
    [
        "try",
        "be",
        "do",
        "don't",
        "dont",
        "never",
        "always",
        "make",
        "keep",
        "pretend",
        "act",
        "remember",
        "note",
        "accept",
        "refuse",
        "insist",
        "threaten",
        "decide",
        "answer",
        "only",
        "end",
        "stop",
        "wait",
        "respond",
        "reply",
        "ignore",
        "avoid",
        "repeat",
        "initially",
        "eventually",
        "feel",
        "behave",
        "express",
        "show",
        "start",
        "begin",
        "continue",
        "use",
        "play",
        "sound",
        "stay",
        "give",
        "provide",
        "reveal",
        "tell",
        "say",
        "mention",
        "explain",
        "emphasize",
        "emphasise",
        "complain",
        "stress",
        "claim",
        "state",
        "add",
        "inform",
        "let",
        "ask",
    ]
)
_SPEECH = re.compile(
    r"^(?:tell|say|mention|explain|emphasize|emphasise|complain|stress|claim|state|add|inform|point out|"
    r"let|express|show)\b(?:\s+[\w',-]+){0,8}?\s+that\s+(?P<clause>.+)$",
    re.I,
)
_ASK = re.compile(
    r"^ask\b(?:\s+(?:the\s+)?(?:[\w-]+\s+){0,3}agent)?\s+(?P<clause>(?:how|what|whether|if|when|which|why|where|who)\b.+)$",
    re.I,
)
_PERSONA = re.compile(
    r"^(?:you are|you're|you seem|you write|you speak|you talk|you tend|you like to|english is)\b", re.I
)
_DEGREE = (
    r"(?:(?:very|a little|a bit|quite|rather|somewhat|also|extremely|really|pretty|generally|usually)\s+)*"
)
#: "You are outgoing, flexible and direct."
_TRAIT_LIST = re.compile(
    rf"^you(?: are|'re) {_DEGREE}[a-z-]+(?:(?:,\s*|\s+and\s+|,\s*and\s+){_DEGREE}[a-z-]+)*\s*\.?$", re.I
)
#: words that describe how someone behaves (a persona), not what happened to them
_TRAITS = re.compile(
    r"\b(polite|patient|hurry|meticulous|anxious|casual|direct|chatty|skeptical|frustrat\w*|calm|angry|"
    r"confused|worried|shy|rude|mysterious|argumentative|impatient|busy|cautious|friendly|cooperative|"
    r"talkative|terse|blunt|nervous|curious|logical|organi[sz]ed|person|personality|simple words|"
    r"casually|lowercase|punctuation|short sentences)\b",
    re.I,
)
_STATEMENT_START = frozenset(
    [
        "you",
        "your",
        "you've",
        "you're",
        "you'd",
        "you'll",
        "i",
        "my",
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "there",
        "they",
        "he",
        "she",
        "we",
        "our",
        "after",
        "before",
        "because",
        "since",
        "as",
        "although",
        "though",
        "while",
        "also",
        "now",
        "recently",
        "yesterday",
        "last",
        "one",
        "some",
        "each",
        "both",
        "english",
        "once",
        "when",
        "if",
        "unless",
        "so",
        "his",
        "her",
        "their",
        "all",
        "but",
        "and",
        "or",
    ]
)
_IDENTITY_CUES = re.compile(
    r"\b(?i:your) (?:full |first |last )?name is\b|^(?:(?i:you are)|As) [A-Z][a-z]+ [A-Z][a-z]+|[\w.+-]+@[\w-]+\.[\w.]+"
)
_FORGOT = re.compile(
    r"\b(?:do not|don't|does not|cannot|can't|can not|no longer)\s+(?:remember|recall|know|have)\b", re.I
)
_REFUSAL_CONDITION = re.compile(
    r"\b(not possible|cannot|can't|can not|refuses?|unable|not allowed|denied)\b", re.I
)
_ACCEPT_ACTION = re.compile(
    r"\b(accept|end the conversation|leave|do not insist|don't insist|give up|stop)\b", re.I
)


#: how a conditional's consequence starts when it tells the user what to answer ("mention that ...")
_RESPONSE_VERB = re.compile(
    r"^(?:then\s+)?(?:provide|give|say|mention|tell(?: them| the agent)?|answer|reply|choose|pick|select|"
    r"state|explain)\s+(?:that\s+)?",
    re.I,
)
#: words of a condition that say nothing about what is asked
_CONDITION_STOP = frozenset(
    w[:6]
    for w in [
        "agent",
        "asks",
        "asked",
        "asking",
        "when",
        "whenever",
        "once",
        "unless",
        "should",
        "about",
        "which",
        "what",
        "customer",
        "service",
        "representative",
        "then",
        "that",
        "this",
        "they",
        "them",
        "tells",
        "told",
        "says",
        "said",
        "your",
        "with",
        "from",
    ]
)


class Kind(StrEnum):
    IDENTITY = "identity"  # who the user is: answered from the task's facts when asked
    PERSONA = "persona"  # how the user feels or talks: wording only, never said
    META = "meta"  # how to play the conversation: never said
    CONDITIONAL = "conditional"  # "If the agent ..., ...": never said; its consequence may answer a question
    REQUEST = "request"  # something the user wants done or known
    CONTEXT = "context"  # background the user may tell ("I received it yesterday")
    FOLLOW_UP = "follow_up"  # something to say with the request before it ("Ask how much ...")
    KNOWN = "known"  # a fact from a "Known info" section: said when asked, not in the opening
    UNKNOWN = "unknown"  # what the user does not know ("You do not remember your email"): said when asked


@dataclass
class Sentence:
    original: str
    kind: Kind
    #: what the customer says for it (first person), or "" when it is never said
    spoken: str = ""
    #: an imperative request without a "For <record>," lead ("Settle any difference with ...")
    bare_imperative: bool = False
    #: of a conditional: the condition ("If the agent asks for the payment method")
    condition: str = ""

    def answers(self, question: str) -> bool:
        """A conditional about the agent asking something, whose subject the agent's ``question`` names."""
        if self.kind != Kind.CONDITIONAL or not self.spoken or not re.search(r"\bask", self.condition, re.I):
            return False
        words = {w[:6] for w in re.findall(r"[a-z]{4,}", self.condition.lower())} - _CONDITION_STOP
        asked = {w[:6] for w in re.findall(r"[a-z]{4,}", question.lower())}
        return bool(words & asked)


#: a section heading in a structured instruction (tau2: "Reason for call:", "Known info:", ...)
_HEADING = re.compile(r"^\s*([A-Z][\w ]{0,40}):\s*(.*)$")
#: what a section holds, by words in its heading: what the user does not know; how to play the
#: conversation (never said); everything else is read sentence by sentence
_UNKNOWN_SECTION = re.compile(r"\bunknown\b|\bdo not know\b", re.I)
_KNOWN_SECTION = re.compile(r"\b(?<!un)known\b|\binfo\b|\bfacts?\b|\bprofile\b", re.I)
_META_SECTION = re.compile(r"\binstructions?\b|\bpersona\b|\bbehaviou?r\b|\bdomain\b|\bstyle\b", re.I)


def _sections(instruction: str) -> list[tuple[str, str]]:
    """``(heading, text)`` parts of an instruction; one part with heading "" when it has no headings."""
    parts: list[tuple[str, list[str]]] = [("", [])]
    for line in instruction.splitlines():
        heading = _HEADING.match(line)
        if (
            heading
            and len(heading.group(1).split()) <= 5
            and not heading.group(1).startswith(("If ", "For "))
        ):
            parts.append((heading.group(1), [heading.group(2)] if heading.group(2) else []))
        else:
            parts[-1][1].append(line)
    return [(h, " ".join(x.strip() for x in lines if x.strip())) for h, lines in parts if any(lines)]


_YOU_AGENT = "\x00"  # the agent, addressed by the user: "you" once the sentence is in the first person
_AGENT_SUBJECT = re.compile(
    r"\b(?:the )?(?:customer service |customer support |service |support )?agent\b"
    r"(?= (?:can|could|will|would|might|may|cannot|can't|is able|isn't able|is not able)\b)",
    re.I,
)


def _story(sentence: str) -> str:
    """A sentence of the user's own story (a tau2 "Reason for call"): asides about how to play the
    conversation ("(do not share this with the agent)") are dropped, and "if the agent can help"
    becomes "if you can help" - everything else about the agent stays an instruction, never said."""
    sentence = re.sub(
        r"\s*\([^()]*\)", lambda m: "" if _META_WORDS.search(m.group()) else m.group(), sentence
    )
    return _AGENT_SUBJECT.sub(_YOU_AGENT, sentence)


def _sentences(text: str) -> list[str]:
    parts = [s.strip() for s in _SPLIT.split(text.strip()) if s.strip()]
    return [p[:-1].rstrip() + "." if p.endswith(";") else p for p in parts]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _ends(text: str, mark: str = ".") -> str:
    text = text.rstrip(" ;,")
    return text if text[-1:] in ".!?" else text + mark


def _imperative_request(sentence: str) -> str | None:
    """ "For X, change Y." -> "For X, I want to change Y."; None when the sentence is no request."""
    prefix_match = _FOR_PREFIX.match(sentence)
    prefix = prefix_match.group(1) if prefix_match else ""
    rest = _LINKER.sub("", sentence[len(prefix) :])
    word = re.match(r"[A-Za-z']+", rest)
    if word is None:
        return None
    verb = word.group(0).lower()
    if (
        verb in _CONTROL_VERBS
        or verb in _STATEMENT_START
        or verb == "ask"
        or rest[:1].islower()
        and not prefix
    ):
        return None
    if not (rest[:1].isupper() or prefix):
        return None
    return f"{prefix}I want to {rest[:1].lower()}{rest[1:]}"


def classify(sentence: str, identity_values: Iterable[str] = ()) -> Sentence:
    """What one instruction sentence is, and what (if anything) the customer says for it."""
    text = sentence.strip()
    body = _LINKER.sub("", text)
    step = body != text  # "First, ...", "After that, ...": a step of the task
    identity = _IDENTITY_CUES.search(text) or any(
        v and len(v) > 2 and v.lower() in text.lower() for v in identity_values
    )
    if identity and not _DESIRE.search(text):
        return Sentence(text, Kind.IDENTITY)
    if _CONDITIONAL.match(body):
        condition, _, consequence = body.partition(",")
        consequence = _RESPONSE_VERB.sub("", _LINKER.sub("", consequence.strip()))
        said = ""
        if consequence and not _META_WORDS.search(consequence):
            said = _capital(_ends(first_person(consequence)))
        return Sentence(text, Kind.CONDITIONAL, said, condition=condition)
    speech = _SPEECH.match(body)
    if speech and not _META_WORDS.search(speech.group("clause")):
        return Sentence(text, Kind.REQUEST, _capital(_ends(first_person(speech.group("clause")))))
    ask = _ASK.match(body)
    if ask and not _META_WORDS.search(ask.group("clause")):
        clause = first_person(ask.group("clause")).rstrip(" .;?")
        return Sentence(text, Kind.FOLLOW_UP, f"Could you tell me {clause}?")
    if _META_WORDS.search(text):
        return Sentence(text, Kind.META)
    plain = not re.search(r"[\d#@\"{]|\b(that|because|since|so)\b", body) and not _DESIRE.search(body)
    if not step and plain and _PERSONA.match(body) and (_TRAIT_LIST.match(body) or _TRAITS.search(body)):
        return Sentence(text, Kind.PERSONA)
    first_word = (re.match(r"[A-Za-z']+", _FOR_PREFIX.sub("", body)) or re.match("", "")).group(0).lower()
    if first_word in _CONTROL_VERBS:
        return Sentence(text, Kind.META)
    if _DESIRE.search(text):
        return Sentence(text, Kind.REQUEST, _capital(_ends(first_person(body))))
    imperative = _imperative_request(text)
    if imperative is not None:
        bare = not step and _FOR_PREFIX.match(text) is None
        return Sentence(text, Kind.REQUEST, _capital(_ends(first_person(imperative))), bare_imperative=bare)
    return Sentence(text, Kind.REQUEST if step else Kind.CONTEXT, _capital(_ends(first_person(body))))


@dataclass
class InstructionPlan:
    """An instruction read sentence by sentence: what the customer asks for, in order, and what it knows."""

    sentences: list[Sentence]
    #: what to say for each request, in order: the background just before it, the request, its follow-ups
    requests: list[str]
    #: the index in ``sentences`` of each request (for finding the facts near it)
    request_at: list[int]
    #: the instruction tells the user to accept a refusal ("if it cannot be done, accept it")
    accepts_refusal: bool = False

    @property
    def sayable(self) -> list[Sentence]:
        return [s for s in self.sentences if s.spoken]


@functools.lru_cache(maxsize=4096)
def _read_instruction_once(instruction: str, identity_values: tuple[str, ...]) -> InstructionPlan:
    """:func:`read_instruction` computed once per (instruction, identity values): every trial of a
    task reads the same plan (a pure function of its text; the scripted user never changes a plan)."""
    return read_instruction(instruction, identity_values)


def read_instruction(instruction: str, identity_values: Iterable[str] = ()) -> InstructionPlan:
    """Split a task instruction into sentences, classify them, and group what the customer will say."""
    values = [str(v) for v in identity_values]
    sentences: list[Sentence] = []
    for heading, text in _sections(instruction):
        story = bool(heading) and not (
            _UNKNOWN_SECTION.search(heading)
            or _KNOWN_SECTION.search(heading)
            or _META_SECTION.search(heading)
        )
        for sentence in (classify(_story(s) if story else s, values) for s in _sentences(text)):
            sentence.spoken = sentence.spoken.replace(_YOU_AGENT, "you")
            if _UNKNOWN_SECTION.search(heading) and sentence.kind in (Kind.REQUEST, Kind.CONTEXT):
                sentence.kind = Kind.UNKNOWN
            elif _KNOWN_SECTION.search(heading) and sentence.kind in (Kind.REQUEST, Kind.CONTEXT):
                sentence.kind = Kind.KNOWN
            elif _META_SECTION.search(heading) and sentence.kind in (Kind.REQUEST, Kind.CONTEXT):
                sentence.kind, sentence.spoken = Kind.META, ""
            sentences.append(sentence)
    requests: list[str] = []
    request_at: list[int] = []
    before: list[str] = []  # background before the first request: said with it
    attached = 0  # background sentences added to the latest request
    for index, sentence in enumerate(sentences):
        if sentence.kind == Kind.REQUEST and sentence.bare_imperative and requests:
            requests[-1] += " " + sentence.spoken  # a condition of the request before it
        elif sentence.kind == Kind.REQUEST:
            requests.append(" ".join([*before, _capital(_LINKER.sub("", sentence.spoken))]))
            request_at.append(index)
            before, attached = [], 0
        elif sentence.kind == Kind.FOLLOW_UP and requests:
            requests[-1] += " " + sentence.spoken
        elif sentence.kind in (Kind.CONTEXT, Kind.FOLLOW_UP) and not requests and len(before) < 3:
            before.append(sentence.spoken)
        elif sentence.kind == Kind.CONTEXT and requests and attached < 2:  # background after a request
            requests[-1] += " " + sentence.spoken
            attached += 1
    if not requests and before:
        requests.append(" ".join(before))
        request_at.append(0)
    accepts = any(
        s.kind in (Kind.CONDITIONAL, Kind.META)
        and _REFUSAL_CONDITION.search(s.original)
        and _ACCEPT_ACTION.search(s.original)
        for s in sentences
    )
    return InstructionPlan(sentences, requests, request_at, accepts)


def opening_for(instruction: str, identity_values: Iterable[str] = ()) -> str:
    """The scripted user's first message for an instruction: its first request, in the first person."""
    plan = read_instruction(instruction, identity_values)
    return plan.requests[0] if plan.requests else NO_REQUEST


NO_REQUEST = "Hi, I need some help, please."


# --------------------------------------------------------------------------- persona wording


@dataclass(frozen=True)
class Tone:
    """How a persona colours the scripted user's stock phrases (wording only, never grammar)."""

    confirm: str = "Yes, please go ahead."
    thanks: str = "Thank you, that's everything I needed."
    again: str = "To repeat, "
    more: str = "Thanks. One more thing: "
    done: str = "No, that's all, thank you."
    accept: str = "I understand. Thank you anyway."


TONES: tuple[tuple[str, Tone], ...] = (
    (
        r"angr|frustrat|impatien|annoy|argumentative|blunt|rude",
        Tone(
            confirm="Yes, go ahead. Just get it done, please.",
            thanks="Finally. That's everything.",
            again="As I already said, ",
            more="Fine. Next: ",
            done="No, that's all.",
            accept="Fine, if that's how it is.",
        ),
    ),
    (
        r"anxi|worr|insecure|nervous|cautious",
        Tone(
            confirm="Yes, please go ahead, as long as everything is correct.",
            thanks="Thank you, that's a relief. That's everything I needed.",
            again="Sorry, just to be sure, again: ",
            more="Thank you. I have one more thing, if that's okay: ",
        ),
    ),
    (r"confus", Tone(again="Sorry, I'm not sure I understand. What I need is this: ")),
    (
        r"\bbusy\b|hurry|short sentences|direct|terse",
        Tone(confirm="Yes.", thanks="Thanks, that's all.", again="Again: ", more="Next: ", done="No."),
    ),
    (
        r"polite|patient|calm|cooperative|friendly|kind",
        Tone(
            confirm="Yes, please go ahead. Thank you!",
            thanks="Thank you so much for your help, that's everything I needed.",
            again="Sorry if I was unclear. ",
            more="Thank you! There is one more thing: ",
        ),
    ),
)


def tone_for(persona_text: str) -> Tone:
    for pattern, tone in TONES:
        if re.search(pattern, persona_text, re.I):
            return tone
    return Tone()


# --------------------------------------------------------------------------- the scripted user

_ASKS_CONFIRM = re.compile(
    r"\b(confirm|proceed|shall i|should i|would you like me to|do you want me to|is that correct|is this correct|"
    r"go ahead|\(yes/no\)|yes or no)\b",
    re.I,
)
#: the agent asks the user to identify without naming a field
_ASKS_IDENTITY = re.compile(
    r"\b(verify|verification|identity|authenticat\w*|identify|look up your account|locate your account|"
    r"find your account)\b",
    re.I,
)
#: words of a question that say nothing about what is asked
_QUESTION_STOP = _CONDITION_STOP | frozenset(
    w[:6]
    for w in [
        "could", "would", "please", "provide", "tell", "give", "have", "need", "know", "share", "help",
        "sure", "thanks", "thank", "also", "just", "like", "want", "there", "anything", "else", "some",
        "more", "information", "details", "remember", "recall",
    ]
)  # fmt: skip
_ASKS_ANYTHING_ELSE = re.compile(r"\banything else\b|\bother (?:questions|requests)\b", re.I)
_DONE = re.compile(
    r"\b(has been|have been|is now|are now|successfully|done|completed?|processed|all set)\b", re.I
)
_REFUSED = re.compile(
    r"\b(cannot|can't|can not|unable|not possible|not able|not allowed|unfortunately|not eligible)\b", re.I
)
_OPEN_QUESTION = re.compile(
    r"^(?:(?:and|so|also|now|great|okay|ok|thanks|thank you)[,!.]?\s+)*(?:which|what|how|where|when|who|whose|"
    r"(?:could|can|would) you (?:please )?(?:tell|give|provide|share|confirm|let)|please (?:tell|give|provide|share))\b",
    re.I,
)
#: the agent asks the user to do or check something on their own phone
_DEVICE_REQUEST = re.compile(
    r"\b(?:on|in|from|with) your (?:phone|device|handset|mobile)\b|\byour (?:phone|device)'s\b|"
    r"\b(?:restart|reboot|toggle|reseat|re-?insert|turn (?:on|off)|switch (?:on|off)|disconnect|"
    r"grant|reset|run a speed test|status bar)\b",
    re.I,
)
_QUESTIONISH = re.compile(
    r"\b(please|could you|can you|would you|let me know|provide|tell me|share|confirm)\b", re.I
)


def _questions(agent_message: str) -> str:
    """The parts of an agent message that ask the user something (the whole message when none does)."""
    parts = re.split(r"(?<=[.!?])\s+", agent_message.strip())
    asking = [p for p in parts if p.endswith("?") or _QUESTIONISH.search(p)]
    return " ".join(asking) or agent_message


class ScriptedUser(UserSimulator):
    """A deterministic customer for running the pipeline without a second model.

    It reads the task instruction sentence by sentence (:func:`read_instruction`): identity
    statements, requests, background, persona descriptions and instructions about the conversation
    itself. It opens with its first request in the first person; answers identification questions
    from the task's facts (the identity asked for; of several, the one the instruction states);
    answers questions about records, items, payment and the like with the instruction sentences that
    carry the fact (the domain's :attr:`~casework.domains.UserModel.askable` vocabulary and id
    prefixes say what is asked and where the ids are); confirms with "yes"; moves to its next
    request when the agent is done with one; and stops once the goal is reached (the harness checks
    the database against the replayed ground truth) or it has nothing more to ask. Persona and
    conversation instructions ("If the agent asks ..., say yes") are never said; a persona colours
    the wording of its stock phrases (:data:`TONES`). It gives up - an abnormal end, recorded - after
    ``max_turns`` replies or when the agent keeps answering nothing it can act on.
    """

    name = "scripted"

    def __init__(self, max_turns: int = 12, max_repeats: int = 2):
        self.max_turns = max_turns
        self.max_repeats = max_repeats
        self.turns = 0
        self.repeats = 0
        self.task: Task | None = None
        self.facts = UserFacts()
        self.goal_reached: Callable[[], bool] = lambda: False
        self.plan = InstructionPlan([], [], [])
        self.current = 0
        self.tone = Tone()
        self.identified = False
        self.last = ""
        self.used_conditions: set[int] = set()
        self.performed: set[int] = set()  # indexes of the user-side golden actions done

    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None:
        self.task, self.facts, self.goal_reached = task, facts, goal_reached
        self.turns = self.repeats = self.current = 0
        self.identified = False
        self.last = ""
        self.used_conditions: set[int] = set()
        self.performed: set[int] = set()
        self.plan = _read_instruction_once(task.instruction, tuple(self._identity_values()))
        described = " ".join(s.original for s in self.plan.sentences if s.kind == Kind.PERSONA)
        self.tone = tone_for(f"{persona or ''} {described}")

    def _identity_values(self) -> list[str]:
        values = [str(v) for i in self.facts.identities for v in i.values.values()]
        return values + [str(v) for v in self.facts.details.values()]

    def _asked_identities(self, agent_message: str) -> list[Any]:
        return [i for i in self.facts.identities if i.asked_in(agent_message)]

    def _identify(self, agent_message: str) -> str:
        """The identity the agent asks for; of several, the one the instruction states (else the first).

        When the instruction says the user does not remember what is asked ("You do not remember your
        email address"), the user says so and offers an identity the instruction does state."""
        instruction = (self.task.instruction if self.task else "").lower()
        asked = self._asked_identities(agent_message) or self.facts.identities
        if not asked:
            return "###OUT-OF-SCOPE###"

        def stated(identity: Any) -> bool:
            return all(str(v).lower() in instruction for v in identity.values.values())

        chosen = [i for i in asked if stated(i)]
        if chosen:
            return chosen[0].text
        forgotten = [
            s.spoken or _capital(_ends(first_person(s.original)))
            for s in self.plan.sentences
            if _FORGOT.search(s.original) and any(re.search(i.asks, s.original, re.I) for i in asked)
        ]
        others = [i for i in self.facts.identities if stated(i) and i not in asked]
        if forgotten and others:
            return f"{_clauses_about(forgotten[0], _FORGOT.pattern)} {others[0].text}"
        return asked[0].text

    # -- answering questions about the task --------------------------------------------------------
    def _near_current(self, sentences: list[Sentence]) -> list[Sentence]:
        """Of ``sentences``, those in the current request's part of the instruction (else all)."""
        if not self.plan.request_at:
            return sentences
        lo = self.plan.request_at[self.current - 1] + 1 if self.current > 0 else 0
        hi = (
            self.plan.request_at[self.current + 1]
            if self.current + 1 < len(self.plan.request_at)
            else len(self.plan.sentences)
        )
        span = self.plan.sentences[lo:hi]
        near = [s for s in sentences if any(s is t for t in span)]
        return near or sentences

    def _id_values(self, fields: tuple[str, ...]) -> list[str]:
        found: list[str] = []
        instruction = self.task.instruction if self.task else ""
        for name in fields:
            prefix = self.domain.arguments.id_prefixes.get(name) if self.domain is not None else None
            if not prefix:
                continue
            for value in re.findall(
                rf"(?<![\w{re.escape(prefix)}]){re.escape(prefix)}[A-Za-z0-9_]+", instruction
            ):
                if value not in found:
                    found.append(value)
        return found

    def _answer(self, question: str) -> str | None:
        """An answer from the instruction to what the agent asks, or None when it asks nothing known."""
        if self.domain is None:
            return None
        for topic in self.domain.users.askable:
            if not topic.asked_in(question):
                continue
            values = self._id_values(topic.fields)
            chosen: list[str] = []
            if values:
                span = self._near_current(self.plan.sentences)
                chosen = [v for v in values if any(v in s.original for s in span)]
                if not chosen and len(self.plan.requests) <= 1:
                    chosen = values
            if values and chosen:
                noun = topic.label if len(chosen) == 1 else f"{topic.label}s"
                return f"The {noun} {'is' if len(chosen) == 1 else 'are'} {_join(chosen)}."
            if topic.mentions is None:  # the thing the current request is about
                return self._request_text()
            carriers = [
                s
                for s in self.plan.sayable
                if (topic.mentions and re.search(topic.mentions, s.original, re.I))
                or (re.search(topic.asks, s.original, re.I) and re.search(r"\d", s.original))
            ]
            said = " ".join(
                _clauses_about(s.spoken, topic.mentions or topic.asks)
                for s in self._near_current(carriers)[:2]
            )
            if topic.fields:  # an id the instruction does not give: say so, and what is known
                return f"Sorry, I don't have the {topic.label}. {said}".strip()
            return said or f"Sorry, I don't know the {topic.label}."
        return None

    def _known(self, question: str) -> str | None:
        """A fact the instruction lists ("Known info: Your user id is ...") that the question names."""
        asked = {w[:6] for w in re.findall(r"[a-z]{4,}", question.lower())} - _QUESTION_STOP
        for sentence in self.plan.sentences:
            if sentence.kind not in (Kind.KNOWN, Kind.UNKNOWN, Kind.IDENTITY):
                continue
            words = {w[:6] for w in re.findall(r"[a-z]{4,}", sentence.original.lower())} - _QUESTION_STOP
            if words & asked:
                return sentence.spoken or _capital(_ends(first_person(sentence.original)))
        return None

    def _request_text(self) -> str:
        if self.plan.requests:
            return self.plan.requests[min(self.current, len(self.plan.requests) - 1)]
        return NO_REQUEST

    def _next_request(self) -> str | None:
        if self.current + 1 < len(self.plan.requests):
            self.current += 1
            self.repeats = 0
            return self.tone.more + self._request_text()
        return None

    # -- the conversation --------------------------------------------------------------------------
    async def first_message(self) -> UserReply:
        assert self.task is not None, "reset() first"
        return self._say(self._request_text())

    def _say(self, text: str) -> UserReply:
        self.last = text
        return UserReply(content=text)

    def _stop(self, text: str, abnormal: str | None = None) -> UserReply:
        return UserReply(content=f"{text} ###STOP###", stop=Termination.USER_STOP, abnormal=abnormal)

    # -- acting on the device (dual control) ------------------------------------------------------
    def _pending_device_actions(self) -> list[tuple[int, Any]]:
        if self.task is None or self.device_call is None:
            return []
        names = set(self.device_tool_names)
        return [
            (i, a)
            for i, a in enumerate(self.task.actions)
            if a.requestor == "user" and a.name in names and i not in self.performed
        ]

    def device_action(self, agent_message: str, *, named_only: bool) -> tuple[str, dict[str, Any]] | None:
        """The device tool call the agent's message asks for, or None.

        The rule: (1) the first pending user-side golden action (task order, each done once) whose
        tool the message names in words (``toggle_airplane_mode`` -> "toggle airplane mode"),
        preferring one whose argument values the message also says, with its golden arguments; (2) else a read-only device tool the message names that needs
        no arguments ("check status bar"), even if not golden; (3) else, unless ``named_only``, when
        the message asks the user to do or check something on the phone (:data:`_DEVICE_REQUEST`),
        the next pending user-side golden action in order."""
        if not self.device_tools or self.device_call is None:
            return None
        text = " " + re.sub(r"[^a-z0-9]+", " ", agent_message.lower()) + " "
        pending = self._pending_device_actions()
        named = [(i, a) for i, a in pending if f" {a.name.replace('_', ' ')} " in text]

        def says_arguments(action: Any) -> bool:
            values = [re.sub(r"[^a-z0-9]+", " ", str(v).lower()).strip() for v in action.arguments.values()]
            return all(f" {v} " in text for v in values)

        if named:  # of several calls of the named tool, the one whose argument values the message says
            index, action = next(((i, a) for i, a in named if says_arguments(a)), named[0])
            self.performed.add(index)
            return action.name, dict(action.arguments)
        toolbox = self.domain.user_toolbox if self.domain is not None else None
        user_tools = toolbox.tools if toolbox is not None else {}
        for schema in self.device_tools:
            name = schema["function"]["name"]
            tool = user_tools.get(name)
            needs = schema["function"].get("parameters", {}).get("required") or []
            named = f" {name.replace('_', ' ')} " in text
            if tool is not None and str(tool.kind) == "read" and not needs and named:
                return name, {}
        if not named_only and pending and _DEVICE_REQUEST.search(agent_message):
            index, action = pending[0]
            self.performed.add(index)
            return action.name, dict(action.arguments)
        return None

    def _perform(self, call: tuple[str, dict[str, Any]]) -> UserReply:
        assert self.device_call is not None
        observation = self.device_call(call[0], call[1])
        self.repeats = 0
        if len(observation) > 400:
            observation = observation[:400] + " ..."
        return self._say(
            f"Done, I did that on my phone ({call[0].replace('_', ' ')}). It shows: {observation}"
        )

    async def respond(self, agent_message: str) -> UserReply:
        self.turns += 1
        if self.goal_reached():
            return self._stop(self.tone.thanks)
        if self.turns > self.max_turns:
            return self._stop(
                "I have to go now.", abnormal=f"scripted user gave up after {self.max_turns} turns"
            )
        named = self.device_action(agent_message, named_only=True)
        if named is not None:
            return self._perform(named)
        question = _questions(agent_message)
        for index, sentence in enumerate(self.plan.sentences):
            if index not in self.used_conditions and sentence.answers(question):
                self.used_conditions.add(index)  # each instruction of this kind is followed once
                self.repeats = 0
                return self._say(sentence.spoken)
        last = re.split(r"(?<=[.!?])\s+", question.strip())[-1]
        yes_no = _OPEN_QUESTION.match(last) is None and _ASKS_CONFIRM.search(last) is not None
        asks_identity = self._asked_identities(question) or (
            not self.identified and _ASKS_IDENTITY.search(question) is not None
        )
        if asks_identity and not (yes_no and self.identified):
            self.identified = True
            content = self._identify(question)
            return UserReply(content=content, stop=user_stop_reason(content))
        device = self.device_action(agent_message, named_only=False)
        if device is not None:
            return self._perform(device)
        answer = None if yes_no else (self._answer(question) or self._known(question))
        if answer is not None:
            self.repeats = 0
            if answer == self.last:  # asked again for what it just said
                answer = "It's just as I said in my last message."
            return self._say(answer)
        if _ASKS_CONFIRM.search(question):
            self.repeats = 0
            return self._say(self.tone.confirm)
        if _ASKS_ANYTHING_ELSE.search(agent_message) or _DONE.search(agent_message):
            following = self._next_request()
            if following is not None:
                return self._say(following)
            if _ASKS_ANYTHING_ELSE.search(agent_message):
                return self._stop(self.tone.done)
        if self.plan.accepts_refusal and _REFUSED.search(agent_message):
            following = self._next_request()
            return self._say(following) if following is not None else self._stop(self.tone.accept)
        self.repeats += 1
        if self.repeats > self.max_repeats:
            return self._stop(
                "I don't think we're getting anywhere.",
                abnormal="scripted user found nothing to answer in the agent's last messages",
            )
        return self._say(self.tone.again + self._request_text())


def _clauses(text: str) -> list[str]:
    """``text`` cut at commas and semicolons outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch in ",;" and depth <= 0 and text[i + 1 : i + 2] == " ":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _clauses_about(sentence: str, pattern: str) -> str:
    """The clauses of ``sentence`` that match ``pattern`` (the whole sentence when all or none do)."""
    clauses = _clauses(sentence)
    about = [c for c in clauses if re.search(pattern, c, re.I)]
    if not about or len(about) == len(clauses):
        return sentence
    return _capital(_ends(", ".join(about)))


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


USER_SYSTEM_PROMPT = """You are {role} talking to a customer-service agent. Play the customer described in the
instruction below.

Instruction: {instruction}

Rules:
- Write one message at a time, as the customer. Keep it short and natural.
- Do not reveal the whole instruction at once: give only what the agent needs for the current step.
- Never invent facts that are not in the instruction (ids, names, addresses, emails). If the agent asks for
  something the instruction does not give, say you do not know it.
- When your goal in the instruction is fully met, reply with ###STOP### alone.
- If you are told you are being transferred to a human agent, reply with ###TRANSFER### alone.
- If the instruction does not contain what is needed to continue, reply with ###OUT-OF-SCOPE### alone.
{persona}"""

ENHANCE_PROMPT = """Rewrite the following terse customer-service request as the customer's natural first message to
an agent, in the first person. Keep every fact exactly (ids, names, items); add no new facts; do not give
identification details unless the request is only about them. Reply with the message only.

Request: {instruction}"""


DEVICE_RULES = """
Your phone:
- You have tools that act on your own phone. Use one when the agent asks you to do or check something
  on your phone, or when you need it to answer the agent's question; otherwise do not call tools.
- Call one tool at a time. After a tool call you get its result; then tell the agent, in your own
  words, what you did and what you see. The agent does not see your tool calls or their results, only
  your messages.
- Never make up what your phone shows: every statement about your phone must come from a tool result.
- If a tool call returns an error, fix the call and try again, or tell the agent what went wrong.
- If the agent asks for several actions at once, do them one at a time.
"""

#: device tool calls the LLM user may make in a row before it must say something to the agent
MAX_DEVICE_CALLS = 4

#: said (in that request only) to a user model that answered a request naming a device tool without
#: calling it; the request also names the tool in ``tool_choice``
NOT_DONE = (
    "(You answered without using your phone. The agent asked you to use {tool}: call that tool now, "
    "then tell the agent what it shows. Never describe your phone without a tool result.)"
)


def _named_tool(message: str, names: Iterable[str]) -> str | None:
    """The device tool an agent's message names in words (``toggle airplane mode``), or None."""
    text = " " + re.sub(r"[^a-z0-9]+", " ", message.lower()) + " "
    found = [n for n in names if f" {n.replace('_', ' ')} " in text]
    return max(found, key=len) if found else None


#: said to the user model when it tried to end the conversation before the agent did anything
NOT_YET = (
    "(The conversation has only just started and the agent has not helped you yet. Do not end the "
    "conversation and do not write ###STOP###: write your first message to the agent, saying what you need.)"
)


class LLMUser(UserSimulator):
    """A model plays the customer. ``enhance_query`` lets it rewrite the terse task into a natural opener."""

    name = "llm"

    def __init__(self, llm: Any, *, enhance_query: bool = False, role: str = "a customer"):
        if llm is None:
            raise ValueError(
                "the LLM user needs a model endpoint (--user-model, or a 'user' role in --models)"
            )
        self.llm = llm
        self.enhance_query = enhance_query
        self.role = role
        self.history: list[dict[str, Any]] = []
        self.system = ""
        self.task: Task | None = None
        self._identity_values: list[str] = []

    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None:
        self.task = task
        self._identity_values = [str(v) for i in facts.identities for v in i.values.values()]
        persona_text = f"\nPersona: {persona}" if persona else ""
        self.system = USER_SYSTEM_PROMPT.format(
            role=self.role, instruction=task.instruction, persona=persona_text
        )
        if self.device_tools:
            self.system += DEVICE_RULES
        self.history = []

    async def _complete(self, extra: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]]:
        messages = [{"role": "system", "content": self.system}, *self.history, *(extra or [])]
        completion = await self.llm.chat(messages)
        return (completion.content or "").strip(), completion.usage.model_dump(mode="json")

    async def _complete_with_device(self) -> tuple[str, list[dict[str, Any]]]:
        """The model's next message to the agent, after the device tool calls it makes first (each run
        through :attr:`device_call`, its result added to the model's history). Tool calls written as
        text are recognised too (models without function calling)."""
        from casework.llm import parse_text_tool_calls

        calls: list[dict[str, Any]] = []
        names = self.device_tool_names
        asked = self.history[-1].get("content") or "" if self.history else ""
        named = _named_tool(asked, names)
        nudged = False
        for _ in range(MAX_DEVICE_CALLS + 2):
            messages = [{"role": "system", "content": self.system}, *self.history]
            choice: str | dict[str, Any] = "auto"
            if nudged:
                messages.append({"role": "user", "content": NOT_DONE.format(tool=named)})
                choice = {"type": "function", "function": {"name": named}}
            completion = await self.llm.chat(messages, tools=self.device_tools, tool_choice=choice)
            calls.append(completion.usage.model_dump(mode="json"))
            content = (completion.content or "").strip()
            requested = [(c.id, c.name, c.arguments) for c in completion.tool_calls]
            if not requested and content:
                content, parsed = parse_text_tool_calls(content, names)
                content = content.strip()
                requested = [(c.id, c.name, c.arguments) for c in parsed]
            if (
                not requested
                and named
                and not nudged
                and not any(m.get("role") == "tool" for m in self.history[-1:])
            ):
                # the agent named a tool of the phone and the model answered without using it: its
                # answer would be made up, so it is asked once to make the call (named tool_choice)
                nudged = True
                continue
            nudged = False
            if not requested or len(calls) > MAX_DEVICE_CALLS + 1:
                return content, calls
            call_id, name, arguments = requested[0]  # one action at a time
            assert self.device_call is not None
            observation = self.device_call(name, arguments)
            self.history.append(
                {
                    "role": "assistant",
                    "content": content or None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": arguments
                                if isinstance(arguments, str)
                                else json.dumps(arguments),
                            },
                        }
                    ],
                }
            )
            self.history.append(
                {"role": "tool", "tool_call_id": call_id, "name": name, "content": observation}
            )
        return "", calls

    async def _reply(self) -> UserReply:
        """The model's next message; an empty one is asked for again once, then ends the run (abnormal)."""
        if self.device_tools and self.device_call is not None:
            content, calls = await self._complete_with_device()
            if not content:
                more, call = await self._complete()
                content, calls = more, [*calls, call]
        else:
            content, call = await self._complete()
            calls = [call]
        if not content:
            content, call = await self._complete()
            calls.append(call)
        if not content:
            return UserReply(
                content="###STOP###",
                stop=Termination.USER_STOP,
                calls=calls,
                abnormal="the user model gave an empty reply (twice)",
            )
        self.history.append({"role": "assistant", "content": content})
        return UserReply(content=content, stop=user_stop_reason(content), calls=calls)

    def _fallback_opening(self) -> str:
        assert self.task is not None
        return opening_for(self.task.instruction, self._identity_values)

    async def first_message(self) -> UserReply:
        """The opening request. The agent has not spoken yet, so a stop token or an empty reply here is
        never an end: the model is asked once more, then the scripted user's opening is used."""
        assert self.task is not None, "reset() first"
        calls: list[dict[str, Any]] = []
        if self.enhance_query:
            completion = await self.llm.chat(
                [{"role": "user", "content": ENHANCE_PROMPT.format(instruction=self.task.instruction)}]
            )
            calls.append(completion.usage.model_dump(mode="json"))
            content = (completion.content or "").strip()
        else:
            self.history = [{"role": "user", "content": GREETING}]
            content, call = await self._complete()
            calls.append(call)
            if not content or user_stop_reason(content) is not None:
                retry = [{"role": "assistant", "content": content}, {"role": "user", "content": NOT_YET}]
                content, call = await self._complete(retry)
                calls.append(call)
        if not content or user_stop_reason(content) is not None:
            content = self._fallback_opening()
        self.history = [{"role": "user", "content": GREETING}, {"role": "assistant", "content": content}]
        return UserReply(content=content, calls=calls)

    async def respond(self, agent_message: str) -> UserReply:
        self.history.append({"role": "user", "content": agent_message})
        return await self._reply()

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.history)  # messages are appended, never changed in place

    def restore(self, snapshot: list[dict[str, Any]]) -> None:
        self.history = list(snapshot)
