"""The call-event vocabulary: every value `call_events.event` may hold, in the spirit of Asterisk's queue_log.

The database checks the same list (`call_events_event_check`, db/migrations/0001_core.sql); a test reads that
CHECK from a migrated database and compares it with this enum, so the two cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum


class CallEvent(StrEnum):
    # the call
    INCOMING = "INCOMING"  # INVITE received, the record opened
    ANSWER = "ANSWER"
    IVR = "IVR"  # the flow opened a work order
    DTMF = "DTMF"
    SURVEY = "SURVEY"  # one answer of the post-call survey
    RECORDING = "RECORDING"  # the call's recording was written and registered
    HANGUP = "HANGUP"  # the record closed with an outcome
    FAILED = "FAILED"  # the record closed as failed (handler error, cell died)
    # the queue (queue_log names)
    ENTERQUEUE = "ENTERQUEUE"
    RINGNOANSWER = "RINGNOANSWER"
    RINGCANCELED = "RINGCANCELED"
    CONNECT = "CONNECT"
    ABANDON = "ABANDON"
    EXITWITHTIMEOUT = "EXITWITHTIMEOUT"
    EXITWITHKEY = "EXITWITHKEY"
    EXITEMPTY = "EXITEMPTY"  # nobody staffs the queue (not joined, or left)
    FULL = "FULL"  # the queue is at its max_length
    COMPLETEAGENT = "COMPLETEAGENT"  # the agent hung up first
    COMPLETECALLER = "COMPLETECALLER"  # the caller hung up first
    # leaving the IVR or the agent otherwise
    TRANSFER = "TRANSFER"
    BLINDTRANSFER = "BLINDTRANSFER"
    HOLD = "HOLD"
    UNHOLD = "UNHOLD"
    CALLBACK = "CALLBACK"  # the caller asked to be called back
    CALLBACKATTEMPT = "CALLBACKATTEMPT"  # one attempt to call them back, with its result
    VOICEMAIL = "VOICEMAIL"
