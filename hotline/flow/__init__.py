"""IVR flows: the YAML flow language, its checker, schedules, and the pure interpreter.

Nothing here does IO except reading flow, schedule and prompt-folder files. An adapter in the cell feeds
`step` with events from the media primitives and carries out the actions it returns.
"""

from hotline.flow.actions import (
    Action,
    Announcement,
    Collect,
    Enqueue,
    Hangup,
    OfferCallback,
    OpenTicket,
    Play,
    RecordVoicemail,
    SaveSurvey,
    SetAttributes,
    Transfer,
)
from hotline.flow.check import check_files, check_flow_file, check_flows_main, load_flow
from hotline.flow.events import (
    CallbackOutcome,
    CallerHungUp,
    CallStarted,
    DigitsCollected,
    Event,
    InputTimeout,
    PlaybackDone,
    QueueOutcome,
    TransferFailed,
    VoicemailDone,
)
from hotline.flow.model import Flow, FlowFile
from hotline.flow.numbers import NUMBER_PROMPTS, say_number
from hotline.flow.problems import FlowError, Problem
from hotline.flow.registry import FlowRegistry, ReloadReport, UnknownFlow
from hotline.flow.schedule import Schedule, ScheduleResult, evaluate, load_schedule
from hotline.flow.schema import write_schema
from hotline.flow.service import CallRecord, CallState, new_call, record, start, step

__all__ = [
    "NUMBER_PROMPTS",
    "Action",
    "Announcement",
    "CallRecord",
    "CallStarted",
    "CallState",
    "CallbackOutcome",
    "CallerHungUp",
    "Collect",
    "DigitsCollected",
    "Enqueue",
    "Event",
    "Flow",
    "FlowError",
    "FlowFile",
    "FlowRegistry",
    "Hangup",
    "InputTimeout",
    "OfferCallback",
    "OpenTicket",
    "Play",
    "PlaybackDone",
    "Problem",
    "QueueOutcome",
    "RecordVoicemail",
    "ReloadReport",
    "SaveSurvey",
    "Schedule",
    "ScheduleResult",
    "SetAttributes",
    "Transfer",
    "TransferFailed",
    "UnknownFlow",
    "VoicemailDone",
    "check_files",
    "check_flow_file",
    "check_flows_main",
    "evaluate",
    "load_flow",
    "load_schedule",
    "new_call",
    "record",
    "say_number",
    "start",
    "step",
    "write_schema",
]
