"""Post-call analysis: tags, a pre-filled work order and a quality score for every call (see README.md here)."""

from hotline.analysis.service import NO_TRANSCRIPT, AnalysisOutcome, CallNotFound, analyse_call
from hotline.analysis.worker import AnalysisWorker, pending

__all__ = ["NO_TRANSCRIPT", "AnalysisOutcome", "AnalysisWorker", "CallNotFound", "analyse_call", "pending"]
