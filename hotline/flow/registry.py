"""The flows in service, one current revision per flow id, swapped atomically on reload.

Who owns what: the registry owns the mapping flow id -> current Flow. A call takes a Flow from `get` when it
starts and keeps that object to the end, so a reload never touches a call in progress. `reload` builds a
whole new mapping and replaces the old one with a single assignment under a lock; readers never see a
half-built mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from hotline.errors import HotlineError
from hotline.flow.check import check_flow_file
from hotline.flow.model import Flow
from hotline.flow.problems import FlowError, Problem


class UnknownFlow(HotlineError):
    pass


@dataclass(frozen=True)
class Swapped:
    flow_id: str
    old_revision: int | None
    new_revision: int


@dataclass
class ReloadReport:
    swapped: list[Swapped] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: dict[str, list[Problem]] = field(default_factory=dict)  # file -> problems; the old flow is kept

    @property
    def ok(self) -> bool:
        return not self.refused

    @property
    def problems(self) -> list[Problem]:
        return [p for problems in self.refused.values() for p in problems]

    def summary(self) -> str:
        lines = [f"flow {s.flow_id}: revision {s.old_revision} -> {s.new_revision}" for s in self.swapped]
        lines += [f"flow {i}: unchanged" for i in self.unchanged]
        for file, problems in self.refused.items():
            lines.append(f"{file}: refused, the running revision is kept")
            lines += [f"  {p}" for p in problems]
        return "\n".join(lines)


class FlowRegistry:
    def __init__(
        self,
        *,
        prompt_dir: Path | None = None,
        schedule_dir: Path | None = None,
        known_queues: Collection[str] | None = None,
        known_prompts: Collection[str] | None = None,
    ) -> None:
        self._prompt_dir = prompt_dir
        self._schedule_dir = schedule_dir
        self._known_queues = known_queues
        self._known_prompts = known_prompts
        self._flows: Mapping[str, Flow] = MappingProxyType({})
        self._lock = threading.Lock()

    def get(self, flow_id: str) -> Flow:
        """The current revision of a flow; hold on to it for the whole call."""
        flows = self._flows
        try:
            return flows[flow_id]
        except KeyError:
            raise UnknownFlow(f"no flow {flow_id!r} is loaded (loaded: {', '.join(sorted(flows)) or 'none'})") from None

    def snapshot(self) -> Mapping[str, Flow]:
        return self._flows

    def load(self, paths: Iterable[Path]) -> ReloadReport:
        """At start-up: load every file or raise FlowError with every problem; nothing is loaded then."""
        report = self.reload(paths)
        if not report.ok:
            raise FlowError("start-up", report.problems)
        return report

    def reload(self, paths: Iterable[Path]) -> ReloadReport:
        """Check every file and swap in the valid new revisions; an invalid file keeps the running flow.

        A changed flow must raise its revision: a call record names a flow by id and revision, so two
        different flows under one revision would make records ambiguous.
        """
        report = ReloadReport()
        with self._lock:
            new = dict(self._flows)
            seen: dict[str, str] = {}
            for path in paths:
                flow, problems = check_flow_file(
                    path,
                    prompt_dir=self._prompt_dir,
                    schedule_dir=self._schedule_dir,
                    known_queues=self._known_queues,
                    known_prompts=self._known_prompts,
                )
                if flow is None:
                    report.refused[str(path)] = problems
                    continue
                if flow.id in seen:
                    msg = f"flow id {flow.id!r} is also used by {seen[flow.id]}"
                    report.refused[str(path)] = [Problem(str(path), 1, None, "id", msg)]
                    continue
                seen[flow.id] = str(path)
                old = self._flows.get(flow.id)
                if old is not None and old.digest == flow.digest:
                    report.unchanged.append(flow.id)
                    continue
                if old is not None and flow.revision <= old.revision:
                    msg = (
                        f"the flow changed but its revision {flow.revision} is not above the running "
                        f"revision {old.revision}; raise the revision"
                    )
                    report.refused[str(path)] = [Problem(str(path), 1, None, "revision", msg)]
                    continue
                new[flow.id] = flow
                report.swapped.append(Swapped(flow.id, old.revision if old else None, flow.revision))
            self._flows = MappingProxyType(new)
        return report
