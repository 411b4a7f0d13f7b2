"""Fixtures for the SIP front: a throwaway database with agents, a Kamailio factory (tests.support.front)."""

from tests.support.front import front_db, start_front, workdir

__all__ = ["front_db", "start_front", "workdir"]
