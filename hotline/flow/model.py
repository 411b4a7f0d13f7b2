"""The flow language: one pydantic model per node kind, told apart by ``type``; unknown keys are refused.

A flow file (``ivr_flows/NAME.yaml``)::

    format: 1
    id: yunnan_12348
    revision: 7            # written into every call record; raise it on every change
    locale: zh-CN          # prompts are ivr_flows/prompts/<locale>/NAME.txt (or .wav)
    entry: welcome
    queues: [legal_consult, duty_lawyer]   # every queue an enqueue or callback node may name
    nodes:
      welcome: {type: play, prompts: [welcome, danger_110], next: main_menu}
      ...

Nodes are named, never numbered, so an edit cannot silently re-route calls. Every edge is a node name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hotline.flow.problems import KeyPath
from hotline.flow.schedule import Schedule

NodeName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"),
    Field(description="a node name: letters, digits and _, not starting with a digit"),
]
PromptName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    Field(description="a prompt: ivr_flows/prompts/<locale>/NAME.txt or NAME.wav"),
]
QueueName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
AttrName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Digit = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$"), Field(description="one DTMF key: 0-9, * or #")]
Seconds = Annotated[float, Field(gt=0, le=3600)]
Scalar = str | int | bool
SkillName = Annotated[
    str,
    StringConstraints(pattern=r"^(legal_area|service|language|prefecture):.+$"),
    Field(description="KIND:NAME, as in the skills table, e.g. legal_area:劳动争议"),
]

SkillKind = Literal["legal_area", "service", "language", "prefecture"]

ALL_KEYS = "0123456789*#"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Node(_Model):
    note: str | None = Field(None, description="free text for administrators; not played")


class PlayNode(_Node):
    """Play prompts to the end (no barge-in), then go to `next`."""

    type: Literal["play"]
    prompts: list[PromptName] = Field(min_length=1)
    next: NodeName


class MenuNode(_Node):
    """Ask for one key. A wrong key or silence costs one of `attempts` (counted over the whole call).

    While attempts remain, `invalid` / `no_input` lead there if set, otherwise the menu is asked again after
    `invalid_prompt` / `no_input_prompt`. When none remain, `exhausted_prompt` plays and `exhausted` is taken.
    """

    type: Literal["menu"]
    prompt: PromptName
    choices: dict[Digit, NodeName] = Field(min_length=1)
    timeout: Seconds = 5.0
    attempts: int = Field(3, ge=1, le=9)
    no_input: NodeName | None = None
    invalid: NodeName | None = None
    exhausted: NodeName | None = None
    no_input_prompt: PromptName | None = None
    invalid_prompt: PromptName | None = None
    exhausted_prompt: PromptName | None = None


class CollectNode(_Node):
    """Collect a number (e.g. a callback number) into the call attribute `store_as`."""

    type: Literal["collect"]
    prompt: PromptName
    store_as: AttrName
    validation: Literal["cn_phone", "digits"] = "digits"
    min_digits: int = Field(1, ge=1, le=32)
    max_digits: int = Field(12, ge=1, le=32)
    terminator: Digit | None = "#"
    first_timeout: Seconds = 8.0
    inter_timeout: Seconds = 4.0
    attempts: int = Field(3, ge=1, le=9)
    ok: NodeName
    no_input: NodeName | None = None
    invalid: NodeName | None = None
    exhausted: NodeName | None = None
    no_input_prompt: PromptName | None = None
    invalid_prompt: PromptName | None = None
    exhausted_prompt: PromptName | None = None

    @model_validator(mode="after")
    def _digits_range(self) -> CollectNode:
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits {self.min_digits} is more than max_digits {self.max_digits}")
        return self


class ScheduleNode(_Node):
    """Go to `open`, `closed` or `holiday` (or `closed` when `holiday` is not set) by a named schedule."""

    type: Literal["schedule"]
    schedule: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")] = Field(
        description="ivr_flows/schedules/NAME.yaml"
    )
    open: NodeName | None = None
    closed: NodeName | None = None
    holiday: NodeName | None = None


class SetNode(_Node):
    """Set call attributes (legal_area, service, language...), add flags, set or raise the priority."""

    type: Literal["set"]
    attributes: dict[AttrName, Scalar] = Field(default_factory=dict)
    flags: list[AttrName] = Field(default_factory=list)
    priority: int | None = Field(None, ge=0, le=100, description="set the caller's queue priority")
    raise_priority: int | None = Field(None, ge=1, le=100, description="add to the caller's queue priority")
    next: NodeName

    @model_validator(mode="after")
    def _reserved(self) -> SetNode:
        for name in ("flags", "priority"):
            if name in self.attributes:
                raise ValueError(f"attribute {name!r} is set with the {name} field, not under attributes")
        return self


class Test(_Model):
    """One test on an attribute; exactly one of equals / in / present / contains."""

    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    present: bool | None = None
    contains: str | None = Field(None, description="for list attributes such as flags")

    @model_validator(mode="after")
    def _exactly_one(self) -> Test:
        given = [n for n in ("equals", "in_", "present", "contains") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("a test needs exactly one of equals, in, present, contains")
        return self

    def holds(self, value: Scalar | tuple[str, ...] | None) -> bool:
        if self.present is not None:
            return (value is not None and value != "") == self.present
        if value is None:
            return False
        if self.equals is not None:
            return value == self.equals
        if self.in_ is not None:
            return value in self.in_
        return isinstance(value, tuple) and self.contains in value


class Case(_Model):
    when: dict[AttrName, Test] = Field(min_length=1, description="all tests must hold")
    next: NodeName


class BranchNode(_Node):
    """Go to the `next` of the first case whose tests all hold, else to `default`.

    Attributes come from the call (``registry``, ``prefecture``, ``caller_kind`` set by the adapter), from
    set/language/collect nodes, plus ``flags`` (a list) and ``priority``.
    """

    type: Literal["branch"]
    cases: list[Case] = Field(min_length=1)
    default: NodeName


class Announce(_Model):
    """What the waiting caller hears every `every` seconds: position, expected wait, then `offer`."""

    every: Seconds = 60.0
    position: bool = True
    wait: bool = True
    position_prompts: tuple[PromptName, PromptName] = ("queue_position_before", "queue_position_after")
    wait_prompts: tuple[PromptName, PromptName] = ("queue_wait_before", "queue_wait_after")
    offer: PromptName | None = Field(None, description="e.g. 'press 1 for a call back', played after the figures")


class EnqueueNode(_Node):
    """Wait in a queue for an agent; after the agent hangs up, go to `after` (e.g. the survey)."""

    type: Literal["enqueue"]
    queue: QueueName
    prompt: PromptName | None = Field(None, description="played once on entering the queue")
    hold: PromptName | None = Field(None, description="music or message on hold; the adapter's default if unset")
    skills: list[SkillName] = Field(default_factory=list)
    skills_from: list[SkillKind] = Field(
        default_factory=list, description="attributes whose value becomes a required skill KIND:VALUE"
    )
    priority: int = Field(0, ge=0, le=100, description="added to the caller's priority")
    max_wait: Seconds | None = Field(
        None, description="longest wait, then `timeout`; unset: the queue's max_wait_seconds, else 600 s"
    )
    announce: Announce | None = None
    exit_keys: dict[Digit, NodeName] = Field(default_factory=dict)
    after: NodeName
    timeout: NodeName | None = None
    no_agents: NodeName | None = Field(
        None, description="nobody staffs the queue (its join_when_empty), or the last member logged out"
    )
    full: NodeName | None = Field(None, description="the queue has max_length callers in line; unset: no_agents")


class CallbackNode(_Node):
    """Register a call back that keeps the caller's place in `queue` (default: the queue just left)."""

    type: Literal["callback"]
    queue: QueueName | None = None
    number_from: AttrName | None = Field(None, description="attribute holding the number; default the caller's")
    prompt: PromptName | None = None
    ok: NodeName
    failed: NodeName


class VoicemailNode(_Node):
    """Record a message; it becomes a work order of kind `ticket` (hanging up ends the message)."""

    type: Literal["voicemail"]
    prompt: PromptName | None = None
    max_seconds: int = Field(120, ge=5, le=600)
    ticket: AttrName = "callback"
    next: NodeName


class Question(_Model):
    name: AttrName
    prompt: PromptName
    answers: dict[Digit, str] = Field(min_length=1, description="key -> the answer's label")
    timeout: Seconds = 6.0
    attempts: int = Field(2, ge=1, le=5)


class SurveyNode(_Node):
    """Ask questions answered by one key each; silence skips a question, a wrong key asks again.

    When an answer's label is listed in `follow_up_when` for its question, a follow-up work order is opened.
    """

    type: Literal["survey"]
    intro: PromptName | None = None
    questions: list[Question] = Field(min_length=1)
    invalid_prompt: PromptName | None = None
    follow_up_when: dict[AttrName, list[str]] = Field(
        default_factory=dict, description="question -> answer label(s) that open a follow-up work order"
    )
    follow_up_ticket: AttrName = "follow_up"
    next: NodeName

    @field_validator("follow_up_when", mode="before", json_schema_input_type=dict[str, list[str] | str])
    @classmethod
    def _one_label(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _rules_name_answers(self) -> SurveyNode:
        names = {q.name: q for q in self.questions}
        if len(names) != len(self.questions):
            raise ValueError("two questions have the same name")
        for qname, labels in self.follow_up_when.items():
            if qname not in names:
                raise ValueError(f"follow_up_when names question {qname!r}, which is not asked")
            unknown = set(labels) - set(names[qname].answers.values())
            if unknown:
                raise ValueError(f"follow_up_when: {sorted(unknown)} is not an answer of {qname!r}")
        return self


class TransferNode(_Node):
    """Blind-transfer to an external number (e.g. 110); on failure go to `failed`."""

    type: Literal["transfer"]
    number: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,15}$")]
    prompt: PromptName | None = None
    failed: NodeName


class LanguageChoice(_Model):
    language: str | None = Field(None, description="value of the language attribute; null keeps the current one")
    next: NodeName


class LanguageNode(_Node):
    """Choose the caller's language by key. Silence, or wrong keys until attempts run out, take `default`."""

    type: Literal["language"]
    prompt: PromptName
    attribute: AttrName = "language"
    choices: dict[Digit, LanguageChoice] = Field(min_length=1)
    default: LanguageChoice
    timeout: Seconds = 5.0
    attempts: int = Field(2, ge=1, le=9)
    invalid_prompt: PromptName | None = None


class HangupNode(_Node):
    type: Literal["hangup"]
    prompts: list[PromptName] = Field(default_factory=list)


AnyNode = (
    PlayNode
    | MenuNode
    | CollectNode
    | ScheduleNode
    | SetNode
    | BranchNode
    | EnqueueNode
    | CallbackNode
    | VoicemailNode
    | SurveyNode
    | TransferNode
    | LanguageNode
    | HangupNode
)
Node = Annotated[AnyNode, Field(discriminator="type")]
NODE_TYPES: dict[str, type[_Node]] = {
    "play": PlayNode,
    "menu": MenuNode,
    "collect": CollectNode,
    "schedule": ScheduleNode,
    "set": SetNode,
    "branch": BranchNode,
    "enqueue": EnqueueNode,
    "callback": CallbackNode,
    "voicemail": VoicemailNode,
    "survey": SurveyNode,
    "transfer": TransferNode,
    "language": LanguageNode,
    "hangup": HangupNode,
}
# Kinds that wait for the caller with a bounded number of attempts, or wait in a queue: a cycle of nodes
# must pass through one of these, or it would spin without the caller doing anything.
CONSUMING_TYPES = frozenset({"menu", "collect", "language", "enqueue"})


class FlowFile(_Model):
    """The contents of one flow file."""

    format: Literal[1]
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
    revision: int = Field(ge=1)
    entry: NodeName
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "zh-CN"
    description: str | None = None
    queues: list[QueueName] = Field(default_factory=list, description="every queue this flow may send calls to")
    nodes: dict[NodeName, Node] = Field(min_length=1)


def edges(node: _Node) -> Iterator[tuple[KeyPath, str]]:
    """Every edge of a node as (field path inside the node, target node name)."""
    for name in ("next", "no_input", "invalid", "exhausted", "ok", "failed", "open", "closed", "holiday"):
        target = getattr(node, name, None)
        if isinstance(target, str):
            yield (name,), target
    if isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            yield ("cases", i, "next"), case.next
        yield ("default",), node.default
    if isinstance(node, MenuNode):
        for digit, target in node.choices.items():
            yield ("choices", digit), target
    if isinstance(node, LanguageNode):
        for digit, choice in node.choices.items():
            yield ("choices", digit, "next"), choice.next
        yield ("default", "next"), node.default.next
    if isinstance(node, EnqueueNode):
        for digit, target in node.exit_keys.items():
            yield ("exit_keys", digit), target
        for name in ("after", "timeout", "no_agents", "full"):
            target = getattr(node, name)
            if target is not None:
                yield (name,), target


def prompts(node: _Node) -> Iterator[tuple[KeyPath, str]]:
    """Every prompt a node may play, as (field path inside the node, prompt name)."""
    for name in ("prompt", "no_input_prompt", "invalid_prompt", "exhausted_prompt", "intro", "hold"):
        value = getattr(node, name, None)
        if isinstance(value, str):
            yield (name,), value
    if isinstance(node, PlayNode | HangupNode):
        for i, p in enumerate(node.prompts):
            yield ("prompts", i), p
    if isinstance(node, SurveyNode):
        for i, q in enumerate(node.questions):
            yield ("questions", i, "prompt"), q.prompt
    if isinstance(node, EnqueueNode) and node.announce is not None:
        a = node.announce
        if a.position:
            for i, p in enumerate(a.position_prompts):
                yield ("announce", "position_prompts", i), p
        if a.wait:
            for i, p in enumerate(a.wait_prompts):
                yield ("announce", "wait_prompts", i), p
        if a.offer is not None:
            yield ("announce", "offer"), a.offer


@dataclass(frozen=True, eq=False)
class Flow:
    """A checked flow, ready to run: the file's contents plus the schedules it names.

    Immutable once loaded. A call holds on to the Flow it started with, so a reload never changes the nodes
    under a call in progress.
    """

    file: FlowFile
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    source: Path | None = None
    digest: str = ""

    @property
    def id(self) -> str:
        return self.file.id

    @property
    def revision(self) -> int:
        return self.file.revision

    @property
    def entry(self) -> str:
        return self.file.entry

    def node(self, name: str) -> AnyNode:
        return self.file.nodes[name]
